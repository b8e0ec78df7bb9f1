import jsQR from 'jsqr';
import { describe, expect, it } from 'vitest';
import { QUIET_ZONE, boothSetup, qrPicture } from '../../src/qr';

/** Draws the picture's path (runs `M x y h n v1 h -n z`) as RGBA pixels, `scale` per module. */
function raster(picture: { side: number; path: string }, scale: number) {
  const width = picture.side * scale;
  const pixels = new Uint8ClampedArray(width * width * 4).fill(255);
  const runs = [...picture.path.matchAll(/M(\d+) (\d+)h(\d+)v1h-(\d+)z/g)];
  expect(runs.map((r) => r[0]).join('')).toBe(picture.path);
  for (const [, x, y, length] of runs) {
    for (let module = Number(x); module < Number(x) + Number(length); module++) {
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const at = ((Number(y) * scale + dy) * width + module * scale + dx) * 4;
          pixels.fill(0, at, at + 3);
        }
      }
    }
  }
  return { pixels, width };
}

describe('QR codes', () => {
  it("draw a booking's qr_token so that a reader gets it back exactly", () => {
    const token = '0192f3a4-5b6c-7d8e-9f01-23456789abcd.q8Zf0LrW3yJbN2xkQe7vT1sUo5mPcAdH9gIiKlMnOpR';
    const picture = qrPicture(token);
    const { pixels, width } = raster(picture, 4);
    expect(jsQR(pixels, width, width)?.data).toBe(token);
  });

  it('keep a quiet zone of four light modules on every side', () => {
    const picture = qrPicture('hello');
    const runs = [...picture.path.matchAll(/M(\d+) (\d+)h(\d+)/g)].map(([, x, y, n]) => [Number(x), Number(y), Number(n)]);
    const size = picture.side - 2 * QUIET_ZONE;
    expect(Math.min(...runs.map(([x]) => x))).toBe(QUIET_ZONE);
    expect(Math.min(...runs.map(([, y]) => y))).toBe(QUIET_ZONE);
    expect(Math.max(...runs.map(([x, , n]) => x + n))).toBe(QUIET_ZONE + size);
    expect(Math.max(...runs.map(([, y]) => y + 1))).toBe(QUIET_ZONE + size);
    // The top-left finder pattern: a run of seven dark modules at the corner.
    expect(picture.path.startsWith(`M${QUIET_ZONE} ${QUIET_ZONE}h7v1h-7z`)).toBe(true);
  });

  it("carry a kiosk's setup as JSON: hub address, booth and token", () => {
    const text = boothSetup('https://hub.example:8443', 'b-1', 'bhb_secret');
    expect(JSON.parse(text)).toEqual({ boothhub: 1, url: 'https://hub.example:8443', booth_id: 'b-1', token: 'bhb_secret' });
    const { pixels, width } = raster(qrPicture(text), 3);
    expect(jsQR(pixels, width, width)?.data).toBe(text);
  });
});
