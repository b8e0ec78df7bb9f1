// QR codes as SVG paths: `lean-qr/nano` (ISO 18004, 2 KiB gzipped) computes the modules, and
// each row's runs of dark modules become one path, so the code stays sharp on screen and on a
// receipt printer at any size. Pure: no DOM.
import { correction, generate } from 'lean-qr/nano';

/** Light modules around the code, as the standard asks (readers need the quiet zone). */
export const QUIET_ZONE = 4;

export interface QrPicture {
  /** Modules per side, quiet zone included: the SVG's viewBox is `0 0 side side`. */
  side: number;
  /** The dark modules as an SVG path in module units. */
  path: string;
}

/** The QR code of `text` (error correction M or better: a smudged receipt still scans). */
export function qrPicture(text: string): QrPicture {
  const code = generate(text, { minCorrectionLevel: correction.M });
  const parts: string[] = [];
  for (let y = 0; y < code.size; y++) {
    let x = 0;
    while (x < code.size) {
      if (!code.get(x, y)) {
        x++;
        continue;
      }
      const start = x;
      while (x < code.size && code.get(x, y)) x++;
      parts.push(`M${start + QUIET_ZONE} ${y + QUIET_ZONE}h${x - start}v1h${start - x}z`);
    }
  }
  return { side: code.size + 2 * QUIET_ZONE, path: parts.join('') };
}

/** What a kiosk scans to configure itself as a booth: the hub's address, the booth and its
 * token, as JSON (not a URL: a phone that scans it opens nothing, and the token never sits in
 * a URL, contract §2). */
export function boothSetup(hub: string, boothId: string, token: string): string {
  return JSON.stringify({ boothhub: 1, url: hub, booth_id: boothId, token });
}
