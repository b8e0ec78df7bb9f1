import { describe, expect, it } from 'vitest';
import { dayBounds, formatTime, localDate, localDateTime, offsetMinutes, zoneLabel, zonedToUtc } from '../../src/time';

describe('outlet time zones', () => {
  it.each([
    ['Asia/Jakarta', 'WIB', 420],
    ['Asia/Pontianak', 'WIB', 420],
    ['Asia/Makassar', 'WITA', 480],
    ['Asia/Jayapura', 'WIT', 540],
    ['Asia/Singapore', 'Asia/Singapore', 480],
  ])('%s is %s, UTC%+d min', (tz, label, offset) => {
    expect(zoneLabel(tz)).toBe(label);
    expect(offsetMinutes(tz, new Date('2026-11-26T03:00:00Z'))).toBe(offset);
  });

  it('shows a UTC time in the outlet zone with its label', () => {
    const at = '2026-11-26T03:05:00Z';
    expect(formatTime(at, 'Asia/Jakarta', 'en')).toMatch(/26 Nov 2026.*10:05 WIB$/);
    expect(formatTime(at, 'Asia/Jayapura', 'en')).toMatch(/12:05 WIT$/);
    expect(formatTime(at, 'Asia/Makassar', 'id')).toMatch(/11[.:]05 WITA$/);
    expect(formatTime(null, 'Asia/Jakarta', 'en')).toBe('—');
  });

  it('turns wall-clock input in the outlet zone into UTC and back', () => {
    expect(zonedToUtc('2026-11-26T10:05', 'Asia/Jakarta').toISOString()).toBe('2026-11-26T03:05:00.000Z');
    expect(zonedToUtc('2026-11-26T00:30', 'Asia/Jayapura').toISOString()).toBe('2026-11-25T15:30:00.000Z');
    expect(localDateTime(new Date('2026-11-25T15:30:00Z'), 'Asia/Jayapura')).toBe('2026-11-26T00:30');
    expect(localDate(new Date('2026-11-25T18:00:00Z'), 'Asia/Jakarta')).toBe('2026-11-26');
  });

  it('bounds a day of the outlet in UTC', () => {
    expect(dayBounds('2026-11-26', 'Asia/Makassar')).toEqual({
      from: '2026-11-25T16:00:00.000Z',
      to: '2026-11-26T15:59:59.999Z',
    });
    expect(dayBounds('2026-12-31', 'Asia/Jakarta').to).toBe('2026-12-31T16:59:59.999Z');
  });
});
