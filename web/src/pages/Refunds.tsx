// Refunds: the payments flagged for refund (money that came in and paid for nothing), newest
// first, with their booking, amount, when they came in, why they were flagged and where they
// stand. The money is returned outside the hub; "Mark refunded" records that, with a reason
// (1–500 characters), asked first. Admins see their outlet's; a super admin every outlet's and
// those of unknown bookings. The outlet filter lives in the URL.
import { useState } from 'preact/hooks';
import { Link, useLocation, useSearch } from 'wouter-preact';
import { ApiError, type Page, all, api, query } from '../api';
import { Confirm, ErrorNote, Field, Pager, Table, useLoad } from '../components';
import { lang, say, t } from '../i18n';
import type { AuditEntry, Payment } from '../model';
import { outletName, outlets, timezoneOf } from '../outlets';
import { bookingKnown, flaggedBecause, money, refundReasonProblem, refundState } from '../payments';
import { user } from '../session';
import { formatTime } from '../time';

export function RefundsPage() {
  const search = new URLSearchParams(useSearch());
  const [, navigate] = useLocation();
  const outlet = search.get('outlet') ?? '';
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const [open, setOpen] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const superAdmin = user.value?.role === 'super_admin';
  const page = useLoad(
    () =>
      api<Page<Payment>>(
        'GET',
        '/payments' + query({ refund_required: 'true', outlet_id: outlet, limit: 25, cursor }),
      ),
    [outlet, cursor],
  );
  const refunders = useRefunders(page.data?.items);

  const setOutlet = (value: string) => {
    setCursors([]);
    navigate(`/refunds${value ? query({ outlet: value }) : ''}`);
  };
  const refunded = (payment: Payment) => {
    setOpen(null);
    setDone(payment.id);
    page.reload();
  };

  return (
    <section>
      <header class="page-head">
        <h1>{t('refunds.title')}</h1>
      </header>
      <p class="muted">{t('refunds.intro')}</p>
      {superAdmin && (
        <form class="filters" aria-label={t('bookings.filter')} onSubmit={(e) => e.preventDefault()}>
          <label class="field">
            <span>{t('common.outlet')}</span>
            <select name="outlet" value={outlet} onChange={(e) => setOutlet(e.currentTarget.value)}>
              <option value="">{t('common.all')}</option>
              {outlets.value.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name}
                </option>
              ))}
            </select>
          </label>
        </form>
      )}
      {done && (
        <p class="note" role="status" data-refunded={done}>
          {t('refund.done')}
        </p>
      )}
      <Table
        list="refunds"
        items={page.loading && !page.data ? undefined : page.data?.items}
        error={page.error}
        empty={t('refunds.empty')}
        head={[
          t('refunds.received'),
          t('refunds.booking'),
          t('common.outlet'),
          t('bookings.amount'),
          t('refunds.why'),
          t('refunds.state'),
          t('common.actions'),
        ]}
        numeric={[3]}
        row={(p) => [
          <tr key={p.id} data-payment={p.id} data-state={refundState(p)}>
            <td>{formatTime(p.received_at, timezoneOf(p.outlet_id), lang.value)}</td>
            <td>
              <BookingRef payment={p} />
            </td>
            <td>{p.outlet_id ? outletName(p.outlet_id) : '—'}</td>
            <td class="num">{money(p.amount, p.currency)}</td>
            <td data-why>
              <FlaggedBecause payment={p} />
            </td>
            <td>
              <RefundStateText payment={p} refunders={refunders} />
            </td>
            <td class="row-actions">
              {refundState(p) === 'due' && (
                <button type="button" class="link" data-action="mark-refunded" onClick={() => setOpen(p.id)}>
                  {t('refund.mark')}
                </button>
              )}
            </td>
          </tr>,
          open === p.id && (
            <tr key={`${p.id}-panel`} data-panel={p.id} class="panel">
              <td colSpan={7}>
                <RefundForm payment={p} onDone={refunded} onStale={page.reload} onClose={() => setOpen(null)} />
              </td>
            </tr>
          ),
        ]}
      />
      <Pager
        cursors={cursors}
        next={page.data?.next_cursor}
        onChange={(next) => {
          setOpen(null);
          setCursors(next);
        }}
      />
    </section>
  );
}

/** The booking a payment was for: a link to its page, or its id where the booking is unknown. */
export function BookingRef({ payment }: { payment: Payment }) {
  const ref = payment.booking_id.slice(0, 8).toUpperCase();
  if (!bookingKnown(payment)) {
    return (
      <span class="mono" title={payment.booking_id}>
        {ref} ({t('refunds.unknownBooking')})
      </span>
    );
  }
  return (
    <Link href={`/bookings/${payment.booking_id}`} class="mono" data-booking-link={payment.booking_id}>
      {ref}
    </Link>
  );
}

export function FlaggedBecause({ payment }: { payment: Payment }) {
  const words = flaggedBecause(payment);
  if (!words) return <span class="muted">—</span>;
  return <>{words.map(say).join('; ')}</>;
}

/** Where a payment stands: no refund needed, to refund, or refunded by whom, when and why. */
export function RefundStateText({ payment, refunders }: { payment: Payment; refunders: Record<string, string> }) {
  const state = refundState(payment);
  if (state === 'none') return <span class="muted" data-refund-state="none">{t('refund.none')}</span>;
  if (state === 'due') {
    return (
      <span class="badge status-PENDING_PAYMENT" data-refund-state="due">
        {t('refund.due')}
      </span>
    );
  }
  const who = refunders[payment.id] ?? (payment.refunded_by === user.value?.id ? user.value?.email : undefined);
  return (
    <span data-refund-state="refunded">
      <span class="badge status-DONE">
        {t('refund.refunded', {
          who: who ?? payment.refunded_by?.slice(0, 8) ?? '—',
          at: formatTime(payment.refunded_at, timezoneOf(payment.outlet_id), lang.value),
        })}
      </span>{' '}
      <span class="reason" data-refund-reason>
        {t('refund.reasonShown', { reason: payment.refund_reason ?? '—' })}
      </span>
    </span>
  );
}

/** Who marked each refunded payment of a list refunded (payment id → e-mail), read from the
 * audit trail's PAYMENT_REFUNDED entries of the time those refunds span: a payment keeps only
 * the user's id, and an admin may not list users. */
export function useRefunders(payments: Payment[] | undefined): Record<string, string> {
  const times = (payments ?? []).flatMap((p) => (p.refunded_at ? [Date.parse(p.refunded_at)] : []));
  // A second either side: the entry's time and the payment's are one instant, written apart.
  const from = times.length ? new Date(Math.min(...times) - 1000).toISOString() : undefined;
  const to = times.length ? new Date(Math.max(...times) + 1000).toISOString() : undefined;
  const entries = useLoad(
    () =>
      from && to
        ? all<AuditEntry>('/audit', { action: 'PAYMENT_REFUNDED', from, to }, 1000)
        : Promise.resolve([] as AuditEntry[]),
    [from, to],
  );
  const who: Record<string, string> = {};
  for (const entry of entries.data ?? []) {
    if (entry.target?.type === 'payment' && entry.target.id && entry.actor_email) who[entry.target.id] = entry.actor_email;
  }
  return who;
}

/** The reason (checked here: 1–500 characters), then a confirmation, then the call. A payment
 * that is no longer refundable (409 NOT_REFUNDABLE, e.g. marked by someone else meanwhile) is
 * said so in words and the list reloaded. */
export function RefundForm(props: {
  payment: Payment;
  onDone: (payment: Payment) => void;
  onStale: () => void;
  onClose: () => void;
}) {
  const { payment } = props;
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);

  const ask = (e: Event) => {
    e.preventDefault();
    setError(null);
    const problem = refundReasonProblem(reason);
    if (problem) {
      setErrors({ reason: t(problem) });
      return;
    }
    setErrors({});
    setConfirming(true);
  };

  const send = async () => {
    setConfirming(false);
    try {
      const refunded = await api<Payment>('POST', `/payments/${payment.id}/refund`, { reason: reason.trim() });
      props.onDone(refunded);
    } catch (err) {
      if (err instanceof ApiError) {
        setErrors(err.fields);
        if (err.code === 'NOT_REFUNDABLE') props.onStale();
      }
      setError(err);
    }
  };

  return (
    <form class="form" onSubmit={ask} data-form="refund" noValidate>
      <Field label={t('refund.reason')} name="reason" errors={errors}>
        <textarea name="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      <ErrorNote error={error} />
      {refundState(payment) !== 'due' ? (
        <div class="actions">
          <button type="button" class="link" onClick={props.onClose}>
            {t('common.close')}
          </button>
        </div>
      ) : confirming ? (
        <Confirm
          text={t('refund.confirm', {
            amount: money(payment.amount, payment.currency),
            ref: payment.booking_id.slice(0, 8).toUpperCase(),
          })}
          yes={t('refund.yes')}
          onYes={send}
          onNo={() => setConfirming(false)}
        />
      ) : (
        <div class="actions">
          <button type="submit" data-action="refund">
            {t('refund.mark')}
          </button>
          <button type="button" class="link" onClick={props.onClose}>
            {t('common.cancel')}
          </button>
        </div>
      )}
    </form>
  );
}
