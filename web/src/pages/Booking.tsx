// One booking: its ticket (the QR code the customer shows at the booth, printable on a 58 mm
// receipt printer), its fields, its history, its payments with their refund state, its audit
// trail (overrides, refunds), and the override form (target
// status and a required reason, confirmed before it is sent). A walk-in booking opens here
// right after it is made, with a note to print the ticket.
import { useState } from 'preact/hooks';
import { Link, useSearch } from 'wouter-preact';
import { ApiError, type Page, all, api, query } from '../api';
import { Empty, ErrorNote, Field, type Load, Loading, QrCode, StatusBadge, Table, useLoad } from '../components';
import { lang, t } from '../i18n';
import { type AuditEntry, type Booking, type LiveEvent, OVERRIDE_TARGETS, type Payment, type Status } from '../model';
import { outletName, timezoneOf } from '../outlets';
import { formatTime } from '../time';
import { money, refundState } from '../payments';
import { AuditTable, useNames } from './Audit';
import { rupiah } from './Bookings';
import { FlaggedBecause, RefundStateText, useRefunders } from './Refunds';

export function BookingPage({ params }: { params: Record<string, string> }) {
  const id = params.id;
  const walkIn = new URLSearchParams(useSearch()).get('walkin') === '1';
  const booking = useLoad(() => api<Booking>('GET', `/session/${id}/status`), [id]);
  const events = useLoad(() => api<{ items: LiveEvent[] }>('GET', `/bookings/${id}/events`), [id]);
  const audit = useLoad(
    () => api<Page<AuditEntry>>('GET', '/audit' + query({ booking_id: id, limit: 100 })),
    [id],
  );
  const payments = useLoad(() => all<Payment>('/payments', { booking_id: id }, 200), [id]);
  const names = useNames();

  if (booking.loading && !booking.data) return <Loading />;
  if (booking.error) return <ErrorNote error={booking.error} />;
  const b = booking.data;
  if (!b) return <Empty />;
  const tz = timezoneOf(b.outlet_id);
  const at = (iso: string | null) => formatTime(iso, tz, lang.value);
  return (
    <section>
      <header class="page-head">
        <h1>
          {t('booking.title')} <StatusBadge status={b.status} />
        </h1>
        <Link href="/bookings">{t('nav.bookings')}</Link>
      </header>
      {walkIn && (
        <p class="note" role="status" data-walkin>
          {t('booking.walkInCreated')}
        </p>
      )}
      <Ticket booking={b} at={at} />
      <dl class="facts" data-booking={b.id}>
        <dt>{t('bookings.customer')}</dt>
        <dd>{b.user.name}</dd>
        <dt>{t('booking.phone')}</dt>
        <dd>{b.user.phone}</dd>
        <dt>{t('booking.email')}</dt>
        <dd>{b.user.email}</dd>
        <dt>{t('common.outlet')}</dt>
        <dd>{outletName(b.outlet_id)}</dd>
        <dt>{t('bookings.bookingTime')}</dt>
        <dd>{at(b.booking_time)}</dd>
        <dt>{t('booking.arrivalDeadline')}</dt>
        <dd>{at(b.arrival_deadline)}</dd>
        <dt>{t('booking.ends')}</dt>
        <dd>{at(b.ends_at)}</dd>
        <dt>{t('bookings.amount')}</dt>
        <dd>{rupiah(b.amount)}</dd>
      </dl>
      <h2>{t('booking.history')}</h2>
      <ErrorNote error={events.error} />
      {events.loading && !events.data ? (
        <Loading />
      ) : (
        <ol class="timeline" data-list="history">
          {(events.data?.items ?? []).map((e) => (
            <li key={e.seq} data-event={e.event}>
              <time>{at(e.at)}</time> <strong>{t(`event.${e.event}`)}</strong>{' '}
              {e.status && <StatusBadge status={e.status} />}
            </li>
          ))}
          {events.data?.items.length === 0 && <li class="muted">{t('common.empty')}</li>}
        </ol>
      )}
      <h2>{t('payments.title')}</h2>
      <Payments payments={payments} />
      <h2>{t('booking.audit')}</h2>
      <AuditTable
        entries={audit.loading && !audit.data ? undefined : audit.data?.items}
        error={audit.error}
        names={names}
        empty={t('booking.auditEmpty')}
      />
      <Override
        booking={b}
        onDone={() => {
          booking.reload();
          events.reload();
          audit.reload();
          payments.reload();
        }}
      />
    </section>
  );
}

/** The payments received for the booking, newest first, each with where its refund stands. */
function Payments({ payments }: { payments: Load<Payment[]> }) {
  const refunders = useRefunders(payments.data);
  return (
    <Table
      list="payments"
      items={payments.loading && !payments.data ? undefined : payments.data}
      error={payments.error}
      empty={t('payments.empty')}
      head={[t('refunds.received'), t('payments.status'), t('bookings.amount'), t('refunds.why'), t('refunds.state')]}
      numeric={[2]}
      row={(p) => (
        <tr key={p.id} data-payment={p.id} data-state={refundState(p)}>
          <td>{formatTime(p.received_at, timezoneOf(p.outlet_id), lang.value)}</td>
          <td>{t(`payments.status.${p.status}`)}</td>
          <td class="num">{money(p.amount, p.currency)}</td>
          <td>
            <FlaggedBecause payment={p} />
          </td>
          <td>
            <RefundStateText payment={p} refunders={refunders} />
          </td>
        </tr>
      )}
    />
  );
}

/** The customer's ticket: on screen, and alone on the page when printed (58 mm wide). */
function Ticket({ booking, at }: { booking: Booking; at: (iso: string | null) => string }) {
  return (
    <div class="ticket-box">
      <article class="ticket" data-ticket={booking.id} aria-label={t('booking.ticket')}>
        <h2>{outletName(booking.outlet_id)}</h2>
        <QrCode name="booking" text={booking.qr_token} label={t('booking.qrLabel')} />
        <p class="ticket-hint">{t('booking.ticketHint')}</p>
        <dl>
          <dt>{t('bookings.customer')}</dt>
          <dd>{booking.user.name}</dd>
          <dt>{t('bookings.bookingTime')}</dt>
          <dd>{at(booking.booking_time)}</dd>
          <dt>{t('booking.arrivalDeadline')}</dt>
          <dd>{at(booking.arrival_deadline)}</dd>
          <dt>{t('bookings.amount')}</dt>
          <dd>
            {rupiah(booking.amount)} {booking.paid_at && <span>({t('booking.paid')})</span>}
          </dd>
          <dt>{t('booking.ref')}</dt>
          <dd class="mono">{booking.id.slice(0, 8).toUpperCase()}</dd>
        </dl>
      </article>
      <div class="ticket-actions">
        <button type="button" data-action="print-ticket" onClick={() => window.print()}>
          {t('booking.print')}
        </button>
      </div>
    </div>
  );
}

function Override({ booking, onDone }: { booking: Booking; onDone: () => void }) {
  const [target, setTarget] = useState<Status>('OVERRIDDEN');
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);

  const ask = (e: Event) => {
    e.preventDefault();
    setDone(false);
    setError(null);
    if (!reason.trim()) {
      setErrors({ reason: t('common.required') });
      return;
    }
    setErrors({});
    setConfirming(true);
  };

  const send = async () => {
    try {
      await api('POST', `/session/${booking.id}/override`, { status: target, reason: reason.trim() });
      setConfirming(false);
      setReason('');
      setDone(true);
      onDone();
    } catch (err) {
      setConfirming(false);
      if (err instanceof ApiError) setErrors(err.fields);
      setError(err);
    }
  };

  return (
    <form class="card form" onSubmit={ask} data-form="override" noValidate>
      <h2>{t('override.title')}</h2>
      <Field label={t('override.target')} name="status" errors={errors}>
        <select name="status" value={target} onChange={(e) => setTarget(e.currentTarget.value as Status)}>
          {OVERRIDE_TARGETS.map((s) => (
            <option key={s} value={s}>
              {t(`status.${s}`)}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t('override.reason')} name="reason" errors={errors}>
        <textarea name="reason" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {done && <p class="note" role="status">{t('override.done')}</p>}
      <ErrorNote error={error} />
      {confirming ? (
        <div class="confirm" role="alertdialog">
          <p>{t('override.confirm', { from: t(`status.${booking.status}`), to: t(`status.${target}`) })}</p>
          <button type="button" class="danger" data-action="confirm-override" onClick={send}>
            {t('override.yes')}
          </button>
          <button type="button" class="link" onClick={() => setConfirming(false)}>
            {t('common.cancel')}
          </button>
        </div>
      ) : (
        <div class="actions">
          <button type="submit" data-action="override">
            {t('override.submit')}
          </button>
        </div>
      )}
    </form>
  );
}
