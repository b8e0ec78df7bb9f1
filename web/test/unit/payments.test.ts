import { describe, expect, it } from 'vitest';
import { translate } from '../../src/i18n';
import type { Payment, PaymentOutcome } from '../../src/model';
import { bookingKnown, flaggedBecause, money, refundReasonProblem, refundState } from '../../src/payments';

function flagged(outcome: PaymentOutcome | undefined, currency = 'IDR') {
  return { refund_required: true, outcome, currency } as Pick<Payment, 'refund_required' | 'outcome' | 'currency'>;
}

describe('why a payment was flagged for refund', () => {
  it('says a wrong amount with both amounts', () => {
    const words = flaggedBecause(
      flagged({ outcome: 'AMOUNT_MISMATCH', expected: 75000, received: 1, expected_currency: 'IDR', received_currency: 'IDR' }),
    );
    expect(words).toEqual([{ key: 'refund.why.amount', vars: { expected: 'Rp 75.000', received: 'Rp 1' } }]);
    expect(translate('en', words?.[0]?.key ?? '', words?.[0]?.vars)).toBe('Wrong amount: Rp 1 received, Rp 75.000 expected');
  });

  it('says a wrong currency, and the amount too only if it differs', () => {
    const currency = flaggedBecause(
      flagged({ outcome: 'AMOUNT_MISMATCH', expected: 75000, received: 75000, expected_currency: 'IDR', received_currency: 'USD' }, 'USD'),
    );
    expect(currency).toEqual([{ key: 'refund.why.currency', vars: { expected: 'IDR', received: 'USD' } }]);
    const both = flaggedBecause(
      flagged({ outcome: 'AMOUNT_MISMATCH', expected: 75000, received: 5, expected_currency: 'IDR', received_currency: 'USD' }, 'USD'),
    );
    expect(both?.map((w) => w.key)).toEqual(['refund.why.currency', 'refund.why.amount']);
    expect(both?.[1]?.vars?.received).toBe('5 USD');
  });

  it('reads an outcome stored before currencies were checked as IDR, with the payment currency', () => {
    const old = flaggedBecause(flagged({ outcome: 'AMOUNT_MISMATCH', expected: 75000, received: 70000 }));
    expect(old).toEqual([{ key: 'refund.why.amount', vars: { expected: 'Rp 75.000', received: 'Rp 70.000' } }]);
  });

  it('says an expired booking, a booking past payment with its status, an unknown booking', () => {
    expect(flaggedBecause(flagged({ outcome: 'BOOKING_EXPIRED' }))).toEqual([{ key: 'refund.why.expired' }]);
    expect(flaggedBecause(flagged({ outcome: 'INVALID_TRANSITION', booking_status: 'DONE' }))).toEqual([
      { key: 'refund.why.pastPayment', keys: { status: 'status.DONE' } },
    ]);
    expect(flaggedBecause(flagged({ outcome: 'UNKNOWN_BOOKING' }))).toEqual([{ key: 'refund.why.unknownBooking' }]);
  });

  it('falls back to "flagged" without an outcome, and says nothing of a payment not flagged', () => {
    expect(flaggedBecause(flagged(undefined))).toEqual([{ key: 'refund.why.flagged' }]);
    expect(
      flaggedBecause({ refund_required: false, outcome: { outcome: 'CONFIRMED', booking_status: 'AWAITING_CUSTOMER' }, currency: 'IDR' }),
    ).toBeNull();
  });

  it('knows which bookings have a page', () => {
    expect(bookingKnown({ outcome: { outcome: 'UNKNOWN_BOOKING' } })).toBe(false);
    expect(bookingKnown({ outcome: { outcome: 'BOOKING_EXPIRED' } })).toBe(true);
    expect(bookingKnown({})).toBe(true);
  });
});

describe('refunds', () => {
  it('tell where a payment stands', () => {
    expect(refundState({ refund_required: false, refunded_at: null })).toBe('none');
    expect(refundState({ refund_required: true, refunded_at: null })).toBe('due');
    expect(refundState({ refund_required: true, refunded_at: '2026-12-05T03:00:00Z' })).toBe('refunded');
  });

  it('take a reason of 1 to 500 characters, counted trimmed and by character', () => {
    expect(refundReasonProblem('')).toBe('common.required');
    expect(refundReasonProblem('   ')).toBe('common.required');
    expect(refundReasonProblem('Transferred back to BCA 1234')).toBeNull();
    expect(refundReasonProblem('é'.repeat(500))).toBeNull();
    expect(refundReasonProblem('😀'.repeat(500))).toBeNull();
    expect(refundReasonProblem('x'.repeat(501))).toBe('refund.reasonLong');
  });

  it('write amounts in their currency', () => {
    expect(money(75000, 'IDR')).toBe('Rp 75.000');
    expect(money(1500, 'USD')).toBe('1.500 USD');
  });
});
