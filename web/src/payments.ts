// Payments as the refunds page and the booking page read them: why a payment was flagged for
// refund (from the hub's `outcome`), where it stands, and the check of a refund's reason.
// Pure: no DOM, no API; words are i18n keys with their values.
import type { Words } from './i18n';
import type { Payment } from './model';
import { rupiah } from './pages/Bookings';

/** A refund's reason is 1 to 500 characters (contract §4), counted after trimming. */
export const REFUND_REASON_MAX = 500;

/** Where a payment stands: it paid for its booking (or moved no money), it must be refunded,
 * or it was marked refunded. */
export type RefundState = 'none' | 'due' | 'refunded';

export function refundState(payment: Pick<Payment, 'refund_required' | 'refunded_at'>): RefundState {
  if (payment.refunded_at) return 'refunded';
  return payment.refund_required ? 'due' : 'none';
}

/** An amount in its currency: rupiah the Indonesian way, any other currency by its code. */
export function money(amount: number, currency: string): string {
  if (currency === 'IDR') return rupiah(amount);
  return `${new Intl.NumberFormat('id-ID').format(amount)} ${currency}`;
}

/** Why a payment was flagged for refund, from its outcome; `null` for one that was not. */
export function flaggedBecause(payment: Pick<Payment, 'refund_required' | 'outcome' | 'currency'>): Words[] | null {
  if (!payment.refund_required) return null;
  const outcome = payment.outcome;
  switch (outcome?.outcome) {
    case 'AMOUNT_MISMATCH': {
      const expectedCurrency = outcome.expected_currency ?? 'IDR';
      const receivedCurrency = outcome.received_currency ?? payment.currency;
      const words: Words[] = [];
      if (expectedCurrency !== receivedCurrency) {
        words.push({ key: 'refund.why.currency', vars: { expected: expectedCurrency, received: receivedCurrency } });
      }
      if (outcome.expected !== outcome.received || words.length === 0) {
        words.push({
          key: 'refund.why.amount',
          vars: {
            expected: money(outcome.expected, expectedCurrency),
            received: money(outcome.received, receivedCurrency),
          },
        });
      }
      return words;
    }
    case 'BOOKING_EXPIRED':
      return [{ key: 'refund.why.expired' }];
    case 'INVALID_TRANSITION':
      return [{ key: 'refund.why.pastPayment', keys: { status: `status.${outcome.booking_status}` } }];
    case 'UNKNOWN_BOOKING':
      return [{ key: 'refund.why.unknownBooking' }];
    default:
      return [{ key: 'refund.why.flagged' }];
  }
}

/** Whether the booking a payment names exists (a payment for an unknown one has no page). */
export function bookingKnown(payment: Pick<Payment, 'outcome'>): boolean {
  return payment.outcome?.outcome !== 'UNKNOWN_BOOKING';
}

/** What is wrong with a typed refund reason (an i18n key), or null. */
export function refundReasonProblem(reason: string): string | null {
  const length = [...reason.trim()].length;
  if (length === 0) return 'common.required';
  if (length > REFUND_REASON_MAX) return 'refund.reasonLong';
  return null;
}
