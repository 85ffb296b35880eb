import type { Zone, ZoneRecord } from '../helpers/dns-server.ts';

export const benchIds = {
  legacySpfIncludes: ['spf.po.2iij.net'],
  legacyMxSuffixes: ['po.2iij.net'],
  successorSpfIncludes: ['spf.gateway.example'],
  successorMxSuffixes: ['mx.gateway.example'],
};

export const benchDomain = (i: number) => `d${i}.bench.example.jp`;

/** N customer domains in four realistic SPF/MX shapes, all sharing a handful of common includes. */
export function benchZone(n: number): Zone {
  const zone: Zone = new Map();
  const set = (name: string, ...records: ZoneRecord[]) => zone.set(name, { records });
  const txt = (data: string): ZoneRecord => ({ type: 'TXT', data });
  set('spf.po.2iij.net', txt('v=spf1 ip4:210.130.0.0/16 -all'));
  set('spf.gateway.example', txt('v=spf1 ip4:203.0.113.0/24 include:_spf.shared.example ~all'));
  set('_spf.shared.example', txt('v=spf1 ip4:198.51.100.0/24 -all'));
  for (let k = 0; k < 5; k++) set(`_spf.common${k}.example`, txt(`v=spf1 ip4:192.0.2.${k + 10} include:_spf.shared.example ~all`));
  set('mx1.po.2iij.net', { type: 'A', data: '210.130.1.1' });
  set('in.mx.gateway.example', { type: 'A', data: '203.0.113.10' });
  set('_dmarc.bench.example.jp', txt('v=DMARC1; p=none; rua=mailto:dmarc@bench.example.jp'));
  for (let i = 0; i < n; i++) {
    const d = benchDomain(i);
    const common = `include:_spf.common${i % 5}.example`;
    switch (i % 4) {
      case 0:
        set(d, txt(`v=spf1 include:spf.po.2iij.net ${common} -all`), { type: 'MX', data: [10, 'mx1.po.2iij.net'] });
        break;
      case 1:
        set(d, txt('v=spf1 include:spf.gateway.example -all'), { type: 'MX', data: [10, 'in.mx.gateway.example'] });
        break;
      case 2:
        set(d, txt(`v=spf1 mx ${common} ~all`), { type: 'MX', data: [10, `mail.${d}`] });
        set(`mail.${d}`, { type: 'A', data: `198.18.${(i >> 8) & 255}.${i & 255}` });
        break;
      default:
        set(d, txt('v=spf1 redirect=spf.po.2iij.net'), { type: 'MX', data: [10, 'in.mx.gateway.example'] }, { type: 'MX', data: [20, 'mx1.po.2iij.net'] });
    }
    if (i % 3 === 0) set(`_dmarc.${d}`, txt('v=DMARC1; p=reject'));
  }
  return zone;
}
