import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's root. */
export const root = join(import.meta.dirname, '..', '..');

/** Every .ts file under these folders of the repository (migrations aside), relative to the root. */
export function sourceFiles(...dirs: string[]): string[] {
  return dirs.flatMap((dir) =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return e.name === 'migrations' ? [] : sourceFiles(path);
      return e.name.endsWith('.ts') ? [path] : [];
    }),
  );
}

export const readSource = (file: string) => readFileSync(join(root, file), 'utf8');
