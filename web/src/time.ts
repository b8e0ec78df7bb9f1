// Times are stored in UTC and shown in the outlet's time zone, labelled the Indonesian way.

const ZONES: Record<string, string> = {
  'Asia/Jakarta': 'WIB',
  'Asia/Pontianak': 'WIB',
  'Asia/Makassar': 'WITA',
  'Asia/Ujung_Pandang': 'WITA',
  'Asia/Jayapura': 'WIT',
};

/** WIB / WITA / WIT for Indonesia's zones, the IANA name otherwise. */
export function zoneLabel(timezone: string): string {
  return ZONES[timezone] ?? timezone;
}

/** The time zones offered for an outlet, Indonesia's first. */
export const TIMEZONES = ['Asia/Jakarta', 'Asia/Pontianak', 'Asia/Makassar', 'Asia/Jayapura', 'Asia/Singapore', 'UTC'];

/** `iso` in `timezone`, e.g. "26 Nov 2026 14.05 WIB" (id) or "26 Nov 2026, 14:05 WIB" (en). */
export function formatTime(iso: string | null | undefined, timezone: string, lang: string): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const text = new Intl.DateTimeFormat(lang === 'id' ? 'id-ID' : 'en-GB', {
    timeZone: timezone,
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(date);
  return `${text} ${zoneLabel(timezone)}`;
}

/** The zone's offset from UTC at `at`, in minutes (Jakarta: 420). */
export function offsetMinutes(timezone: string, at: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour') % 24, get('minute'), get('second'));
  return Math.round((local - Math.floor(at.getTime() / 1000) * 1000) / 60000);
}

/** The UTC instant of a wall-clock time (`YYYY-MM-DDTHH:mm`) in `timezone`. */
export function zonedToUtc(local: string, timezone: string): Date {
  const [date, clock = '00:00'] = local.split('T');
  const [y, m, d] = date.split('-').map(Number);
  const [hh, mm] = clock.split(':').map(Number);
  const guess = Date.UTC(y, m - 1, d, hh, mm);
  const first = guess - offsetMinutes(timezone, new Date(guess)) * 60000;
  // Once more in case the offset differs at the result (a DST edge elsewhere in the world).
  return new Date(guess - offsetMinutes(timezone, new Date(first)) * 60000);
}

/** The wall-clock date `YYYY-MM-DD` of `at` in `timezone`. */
export function localDate(at: Date, timezone: string): string {
  const shifted = new Date(at.getTime() + offsetMinutes(timezone, at) * 60000);
  return shifted.toISOString().slice(0, 10);
}

/** `at` as a `datetime-local` value in `timezone`. */
export function localDateTime(at: Date, timezone: string): string {
  const shifted = new Date(at.getTime() + offsetMinutes(timezone, at) * 60000);
  return shifted.toISOString().slice(0, 16);
}

/** The UTC bounds of the day `date` (`YYYY-MM-DD`) in `timezone`, both inclusive (as the
 * API's `from` and `to` are): its first and its last millisecond. */
export function dayBounds(date: string, timezone: string): { from: string; to: string } {
  const start = zonedToUtc(`${date}T00:00`, timezone);
  const [y, m, d] = date.split('-').map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  const end = zonedToUtc(`${next}T00:00`, timezone);
  return { from: start.toISOString(), to: new Date(end.getTime() - 1).toISOString() };
}
