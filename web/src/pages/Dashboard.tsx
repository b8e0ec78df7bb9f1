// The live dashboard: booths online/offline, today's sessions by status (a bar chart), and
// the event feed. Loaded once, then kept current by the WebSocket without a reload.
import { BarChart } from 'chartist';
import 'chartist/dist/index.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Link } from 'wouter-preact';
import { all, api } from '../api';
import { ErrorNote, Loading, StatusBadge } from '../components';
import { lang, t } from '../i18n';
import { type Booking, type Booth, type LiveEvent, STATUSES, type Status } from '../model';
import { outletName, outlets, timezoneOf } from '../outlets';
import { dayBounds, formatTime, localDate } from '../time';
import { useLiveState } from '../useLive';

/** How many events the feed keeps. */
const FEED_LENGTH = 50;

/** Today's sessions by status: booking id → status. */
export type Today = Record<string, Status>;

/** Counts per status, in the contract's order. */
export function countByStatus(today: Today): Record<Status, number> {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const status of Object.values(today)) counts[status] += 1;
  return counts;
}

/** Whether an RFC 3339 time falls inside inclusive UTC bounds. */
export function inDay(at: string, day: { from: string; to: string }): boolean {
  const time = Date.parse(at);
  return time >= Date.parse(day.from) && time <= Date.parse(day.to);
}

export interface DashboardState {
  booths: Record<string, Booth>;
  today: Today;
}

/** An event on top of the dashboard's state (the same state when it changes nothing). */
export function applyEvent(state: DashboardState, event: LiveEvent): DashboardState {
  const booth = event.booth_id ? state.booths[event.booth_id] : undefined;
  if (booth && (event.event === 'BOOTH_ONLINE' || event.event === 'BOOTH_OFFLINE')) {
    const online = event.event === 'BOOTH_ONLINE';
    return { ...state, booths: { ...state.booths, [booth.id]: { ...booth, online } } };
  }
  const id = event.booking_id;
  if (id && event.status && state.today[id] && state.today[id] !== event.status) {
    return { ...state, today: { ...state.today, [id]: event.status } };
  }
  return state;
}

export function DashboardPage() {
  const [feed, setFeed] = useState<LiveEvent[]>([]);
  const bounds = useRef<Record<string, { from: string; to: string }>>({});

  const load = async (): Promise<DashboardState> => {
    const now = new Date();
    for (const outlet of outlets.value) {
      bounds.current[outlet.id] = dayBounds(localDate(now, outlet.timezone), outlet.timezone);
    }
    const [booths, lists] = await Promise.all([
      all<Booth>('/booths', {}),
      Promise.all(
        outlets.value.map((outlet) => all<Booking>('/bookings', { outlet_id: outlet.id, ...bounds.current[outlet.id] })),
      ),
    ]);
    return {
      booths: Object.fromEntries(booths.map((b) => [b.id, b])),
      today: Object.fromEntries(lists.flat().map((b) => [b.id, b.status])),
    };
  };

  // New bookings whose details are being fetched → the last status their events said: an
  // event that arrives before the fetch answers (a payment right after the booking) is not
  // on the page yet, and the fetched status may be older than it.
  const arriving = useRef(new Map<string, Status | null>());

  const live = useLiveState(load, applyEvent, (event) => {
    setFeed((events) => [event, ...events].slice(0, FEED_LENGTH));
    const id = event.booking_id;
    if (id && event.status && arriving.current.has(id)) arriving.current.set(id, event.status);
    if (id && event.event === 'BOOKING_CREATED') {
      // A booking new to this page counts if it is booked for today.
      arriving.current.set(id, event.status);
      api<Booking>('GET', `/session/${id}/status`)
        .then((booking) => {
          const day = bounds.current[booking.outlet_id];
          if (day && inDay(booking.booking_time, day)) {
            const status = arriving.current.get(id) ?? booking.status;
            live.update((state) => (state.today[id] ? state : { ...state, today: { ...state.today, [id]: status } }));
          }
        })
        .catch(() => {})
        .finally(() => arriving.current.delete(id));
    }
  });

  if (live.error) return <ErrorNote error={live.error} />;
  const booths = live.data?.booths;
  const boothList = booths ? Object.values(booths) : [];
  const online = boothList.filter((b) => b.online).length;
  return (
    <section>
      <header class="page-head">
        <h1>{t('dashboard.title')}</h1>
        <span class={`live live-${live.status}`} data-live={live.status}>
          {t(`live.${live.status}`)}
        </span>
      </header>
      <div class="tiles">
        <div class="tile" data-tile="online">
          <span class="tile-value">{booths ? online : '…'}</span>
          <span>{t('dashboard.online')}</span>
        </div>
        <div class="tile" data-tile="offline">
          <span class="tile-value">{booths ? boothList.length - online : '…'}</span>
          <span>{t('dashboard.offline')}</span>
        </div>
      </div>
      <h2>{t('dashboard.today')}</h2>
      {live.data ? <StatusChart today={live.data.today} /> : <Loading />}
      <h2>{t('dashboard.feed')}</h2>
      <Feed events={feed} booths={booths ?? {}} />
    </section>
  );
}

function StatusChart({ today }: { today: Today }) {
  const counts = countByStatus(today);
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<BarChart | null>(null);
  const labels = STATUSES.map((s) => t(`status.${s}`));
  const series = [STATUSES.map((s) => counts[s])];
  useEffect(() => {
    if (!element.current) return;
    if (chart.current) chart.current.update({ labels, series });
    else
      chart.current = new BarChart(element.current, { labels, series }, {
        axisY: { onlyInteger: true },
        height: '220px',
      });
  });
  return (
    <div class="chart-box">
      <div ref={element} class="chart" aria-hidden="true" />
      <table class="counts">
        <tbody>
          {STATUSES.map((s) => (
            <tr key={s}>
              <td>
                <StatusBadge status={s} />
              </td>
              <td class="num" data-count={s}>
                {counts[s]}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Feed({ events, booths }: { events: LiveEvent[]; booths: Record<string, Booth> }) {
  if (events.length === 0) return <p class="empty">{t('dashboard.feedEmpty')}</p>;
  return (
    <ol class="feed" aria-live="polite">
      {events.map((e) => (
        <li key={`${e.stream}:${e.seq}`} data-seq={`${e.stream}:${e.seq}`} data-event={e.event} data-booking={e.booking_id ?? ''}>
          <time>{formatTime(e.at, timezoneOf(e.outlet_id), lang.value)}</time>
          <strong title={e.event}>{t(`event.${e.event}`)}</strong>
          {e.status && <StatusBadge status={e.status} />}
          <span class="muted">
            {[outletName(e.outlet_id), e.booth_id ? booths[e.booth_id]?.name : null].filter(Boolean).join(' · ')}
          </span>
          {e.booking_id && (
            <Link href={`/bookings/${e.booking_id}`} class="muted">
              {e.booking_id.slice(0, 8)}
            </Link>
          )}
        </li>
      ))}
    </ol>
  );
}
