// The contract's resources as the UI reads them.
import type { Role } from './routes';

export interface User {
  id: string;
  name: string;
  email: string;
  role: Role;
  outlet_id: string | null;
  /** A deactivated user cannot log in. */
  active: boolean;
}

export interface Outlet {
  id: string;
  name: string;
  location: string;
  timezone: string;
  /** The session price in rupiah; every booking at the outlet costs it. */
  price: number | null;
  /** An inactive outlet takes no bookings. */
  active: boolean;
}

export interface Booth {
  id: string;
  outlet_id: string;
  name: string;
  /** A deactivated booth's token is refused. */
  active: boolean;
  online: boolean;
  last_seen_at: string | null;
  created_at?: string;
}

export const STATUSES = [
  'PENDING_PAYMENT',
  'PAID',
  'AWAITING_CUSTOMER',
  'ARRIVED',
  'ONGOING',
  'DONE',
  'EXPIRED',
  'OVERRIDDEN',
] as const;
export type Status = (typeof STATUSES)[number];

/** The statuses an override may set (contract §5). */
export const OVERRIDE_TARGETS: Status[] = ['AWAITING_CUSTOMER', 'ARRIVED', 'DONE', 'OVERRIDDEN'];

export interface Booking {
  id: string;
  user: { name: string; phone: string; email: string };
  outlet_id: string;
  booth_id: string | null;
  status: Status;
  booking_time: string;
  amount: number;
  paid_at: string | null;
  arrival_deadline: string | null;
  expired_at: string | null;
  started_at: string | null;
  ends_at: string | null;
  finished_at: string | null;
  override_by: string | null;
  override_at: string | null;
  override_reason: string | null;
  /** What the customer shows as a QR code at the booth: names this booking, signed by the hub. */
  qr_token: string;
}

/** What an audit entry records (contract §4). */
export const AUDIT_ACTIONS = [
  'SESSION_OVERRIDE',
  'CONFIG_UPDATED',
  'PAYMENT_REFUNDED',
  'LOGIN',
  'LOGIN_FAILED',
  'LOGOUT',
  'PASSWORD_CHANGED',
  'PASSWORD_SET',
  'OUTLET_CREATED',
  'OUTLET_UPDATED',
  'USER_CREATED',
  'USER_UPDATED',
  'BOOTH_CREATED',
  'BOOTH_UPDATED',
  'BOOTH_TOKEN_ROTATED',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditTargetType = 'booking' | 'outlet' | 'user' | 'booth' | 'payment' | 'config';

/** A change made by a person. `kind`, `from`, `to` and `reason` are the same facts under the
 * names the trail had before `action` and `details`; the UI reads the new names. */
export interface AuditEntry {
  id: string;
  at: string;
  /** Null for a failed login: no one is known to have tried. */
  actor_id: string | null;
  /** The actor's address then; for a failed login the address tried. */
  actor_email: string | null;
  action: AuditAction;
  target: { type: AuditTargetType; id?: string } | null;
  details: { from: unknown; to: unknown; reason: string | null };
  outlet_id: string | null;
  booking_id: string | null;
}

/** What the first delivery of a payment's event id was answered (the hub's `outcome`). */
export type PaymentOutcome =
  | { outcome: 'CONFIRMED'; booking_status: Status }
  | { outcome: 'FAILED'; booking_status: Status }
  | {
      outcome: 'AMOUNT_MISMATCH';
      expected: number;
      received: number;
      expected_currency?: string;
      received_currency?: string;
    }
  | { outcome: 'BOOKING_EXPIRED' }
  | { outcome: 'INVALID_TRANSITION'; booking_status: Status }
  | { outcome: 'UNKNOWN_BOOKING' };

export interface Payment {
  id: string;
  event_id: string;
  booking_id: string;
  /** Null when the booking is unknown. */
  outlet_id?: string | null;
  status: 'SUCCESS' | 'FAILED';
  amount: number;
  currency: string;
  outcome?: PaymentOutcome;
  /** A SUCCESS that paid for nothing: an admin must return the money (outside the hub). */
  refund_required: boolean;
  received_at: string;
  refunded_at: string | null;
  refunded_by: string | null;
  refund_reason: string | null;
}

export interface DeadLetter {
  id: string;
  booth_id: string;
  outlet_id: string;
  stream: string;
  seq: number;
  event: { event: string; booking_id: string | null };
  deliveries: number;
  at: string;
}

export interface SystemConfig {
  session_duration_minutes: number;
  arrival_tolerance_minutes: number;
  updated_at: string | null;
  updated_by: string | null;
}

/** A server → client WebSocket message (contract §7). */
export type ServerMessage =
  | { type: 'subscribed'; streams: { stream: string; seq: number }[] }
  | {
      type: 'event';
      stream: string;
      seq: number;
      event: string;
      booking_id: string | null;
      booth_id: string | null;
      outlet_id: string | null;
      status: Status | null;
      at: string;
      data: unknown;
    }
  | { type: 'error'; code: string; message: string };

export type LiveEvent = Extract<ServerMessage, { type: 'event' }>;
