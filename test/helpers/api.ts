import type { App } from '../../src/app.ts';

export interface ApiResponse {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
}

/** `app.inject` with a bearer token and JSON body: `call('PATCH', url, token, body, { 'if-match': '"1"' })`. */
export function apiClient(app: App) {
  return (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}`, ...headers },
      ...(body === undefined ? {} : { payload: body as object }),
    }) as Promise<ApiResponse>;
}
