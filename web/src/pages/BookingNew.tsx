// A walk-in booking made at the counter: usually paid in cash (`paid`), for now or a later slot.
// At an outlet with a price the booking costs that price (shown; no amount is sent, the hub
// charges it); at one without, the amount is typed. An inactive outlet takes no booking. Once
// made, the booking's page opens with its ticket (the QR code) ready to print.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { useLocation } from 'wouter-preact';
import { ApiError, all, api } from '../api';
import { ErrorNote, Field, OutletSelect, useLoad } from '../components';
import { bookingAmount } from '../forms';
import { t } from '../i18n';
import type { Booking, Booth } from '../model';
import { loadOutlets, outlets, timezoneOf } from '../outlets';
import { user } from '../session';
import { localDateTime, zoneLabel, zonedToUtc } from '../time';
import { rupiah } from './Bookings';

export function BookingNewPage() {
  const [, navigate] = useLocation();
  const me = user.value;
  const [outletId, setOutletId] = useState(me?.outlet_id ?? outlets.value[0]?.id ?? '');
  const tz = timezoneOf(outletId);
  const [form, setForm] = useState({
    name: '',
    phone: '',
    email: '',
    booth_id: '',
    booking_time: localDateTime(new Date(), tz),
    amount: '50000',
    paid: true,
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // Another outlet has other booths, and its own zone: "now" there, unless the time was edited.
  const [timeEdited, setTimeEdited] = useState(false);
  const chooseOutlet = (id: string) => {
    setOutletId(id);
    const now = localDateTime(new Date(), timezoneOf(id));
    setForm({ ...form, booth_id: '', booking_time: timeEdited ? form.booking_time : now });
  };
  const booths = useLoad(() => all<Booth>('/booths', { outlet_id: outletId }), [outletId]);
  const outlet = outlets.value.find((o) => o.id === outletId);
  // The price or the active flag may have changed since the outlets were loaded at login.
  useEffect(() => {
    loadOutlets().catch(setError);
  }, []);
  const set = (name: keyof typeof form) => (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    setForm({ ...form, [name]: input.type === 'checkbox' ? input.checked : input.value });
  };

  // Checked here first so that obvious mistakes need no round trip; the server checks again.
  const missing = useMemo(() => {
    const found: Record<string, string> = {};
    if (!form.name.trim()) found['user.name'] = t('common.required');
    if (!form.phone.trim()) found['user.phone'] = t('common.required');
    if (!form.email.trim()) found['user.email'] = t('common.required');
    if (!form.booking_time) found.booking_time = t('common.required');
    return found;
  }, [form]);
  const amount = bookingAmount(outlet, form.amount);
  const closed = outlet !== undefined && !outlet.active;

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const found = { ...missing };
    if ('problem' in amount && amount.field) found[amount.field] = t(amount.problem);
    if (Object.keys(found).length > 0) {
      setErrors(found);
      return;
    }
    if ('problem' in amount) {
      setErrors({});
      return;
    }
    setBusy(true);
    try {
      const booking = await api<Booking>('POST', '/booking', {
        user: { name: form.name.trim(), phone: form.phone.trim(), email: form.email.trim() },
        outlet_id: outletId,
        ...(form.booth_id ? { booth_id: form.booth_id } : {}),
        booking_time: zonedToUtc(form.booking_time, tz).toISOString(),
        ...amount.body,
        paid: form.paid,
      });
      navigate(`/bookings/${booking.id}?walkin=1`);
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length > 0) setErrors(err.fields);
      else setErrors({});
      // The outlet's price or flag changed meanwhile: show what it is now.
      if (err instanceof ApiError && (err.code === 'AMOUNT_MISMATCH' || err.code === 'OUTLET_INACTIVE')) {
        loadOutlets().catch(() => {});
      }
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <header class="page-head">
        <h1>{t('bookings.new')}</h1>
      </header>
      <form class="card form" onSubmit={submit} noValidate data-form="booking">
        <Field label={t('common.name')} name="user.name" errors={errors}>
          <input name="user.name" value={form.name} onInput={set('name')} />
        </Field>
        <Field label={t('booking.phone')} name="user.phone" errors={errors}>
          <input name="user.phone" type="tel" value={form.phone} onInput={set('phone')} />
        </Field>
        <Field label={t('booking.email')} name="user.email" errors={errors}>
          <input name="user.email" type="email" value={form.email} onInput={set('email')} />
        </Field>
        <OutletSelect value={outletId} onChange={chooseOutlet} errors={errors} locked={me?.role !== 'super_admin'} />
        <Field label={t('bookings.booth')} name="booth_id" errors={errors}>
          <select name="booth_id" value={form.booth_id} onChange={set('booth_id')}>
            <option value="">{t('booking.anyBooth')}</option>
            {(booths.data ?? []).map((b) => (
              <option key={b.id} value={b.id}>
                {b.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label={`${t('bookings.bookingTime')} (${zoneLabel(tz)})`} name="booking_time" errors={errors}>
          <input
            name="booking_time"
            type="datetime-local"
            value={form.booking_time}
            onInput={(e) => {
              setTimeEdited(true);
              set('booking_time')(e);
            }}
          />
        </Field>
        {outlet?.price != null ? (
          <div class="field">
            <span>{t('bookings.amount')}</span>
            <p class="price" data-price={outlet.price}>
              {rupiah(outlet.price)} <span class="muted">{t('booking.outletPrice')}</span>
            </p>
          </div>
        ) : (
          <Field label={t('bookings.amount')} name="amount" errors={errors}>
            <input name="amount" type="number" min="1" step="1" value={form.amount} onInput={set('amount')} />
          </Field>
        )}
        <label class="check">
          <input name="paid" type="checkbox" checked={form.paid} onChange={set('paid')} />
          <span>{t('booking.paidAtCounter')}</span>
        </label>
        {closed && (
          <p class="error" role="alert" data-error="OUTLET_INACTIVE">
            {t('booking.outletInactive')}
          </p>
        )}
        <ErrorNote error={error} />
        <div class="actions">
          <button type="submit" disabled={busy || closed}>
            {t('common.create')}
          </button>
        </div>
      </form>
    </section>
  );
}
