// Checks of form input made before a call, so that an obvious mistake needs no round trip (the
// hub checks everything again). Pure: no DOM, no API; messages are i18n keys.
import type { Outlet } from './model';

/** Passwords are 10 to 200 characters (contract §4), counted as the hub counts them. */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;

/** The highest outlet price the hub takes, in rupiah. */
export const PRICE_MAX = 100_000_000;

/** What is wrong with a new password and its repetition, as an i18n key, or null. */
export function newPasswordProblem(password: string, repeat: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) return 'password.length';
  if (password !== repeat) return 'password.mismatch';
  return null;
}

/** A price as typed: empty is no price (null); otherwise a whole number of rupiah from 1 to
 * PRICE_MAX, dots and spaces between thousands allowed ("65.000"). */
export type PriceInput = { price: number | null } | { problem: string };

export function parsePrice(text: string): PriceInput {
  const plain = text.trim().replace(/[.\s]/g, '');
  if (plain === '') return { price: null };
  if (!/^\d+$/.test(plain)) return { problem: 'outlets.priceInvalid' };
  const price = Number(plain);
  if (price < 1 || price > PRICE_MAX) return { problem: 'outlets.priceInvalid' };
  return { price };
}

/** The `amount` part of a new booking at `outlet`: nothing when the outlet has a price (the hub
 * charges it), the typed amount otherwise; or why the booking cannot be made. */
export type AmountInput = { body: { amount?: number } } | { problem: string; field?: string };

export function bookingAmount(outlet: Outlet | undefined, typed: string): AmountInput {
  if (!outlet) return { problem: 'common.required', field: 'outlet_id' };
  if (!outlet.active) return { problem: 'booking.outletInactive' };
  if (outlet.price !== null) return { body: {} };
  const amount = Number(typed.trim());
  if (!typed.trim() || !Number.isInteger(amount) || amount < 1) {
    return { problem: 'booking.amountInvalid', field: 'amount' };
  }
  return { body: { amount } };
}
