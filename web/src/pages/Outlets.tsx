// Outlets (super admin): list, create, edit name, location, time zone, price and active flag.
// The price (rupiah, optional) is what every booking at the outlet costs; an inactive outlet
// takes no bookings.
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api';
import { ActiveBadge, ErrorNote, Field, Table } from '../components';
import { parsePrice } from '../forms';
import { t } from '../i18n';
import type { Outlet } from '../model';
import { loadOutlets, outlets } from '../outlets';
import { TIMEZONES, zoneLabel } from '../time';
import { rupiah } from './Bookings';

export function OutletsPage() {
  const [editing, setEditing] = useState<string | null>(null);
  return (
    <section>
      <header class="page-head">
        <h1>{t('outlets.title')}</h1>
      </header>
      <OutletForm key="new" />
      <Table
        list="outlets"
        items={outlets.value}
        head={[
          t('common.name'),
          t('outlets.location'),
          t('outlets.timezone'),
          t('outlets.price'),
          t('common.status'),
          t('common.actions'),
        ]}
        numeric={[3]}
        row={(o) =>
          editing === o.id ? (
            <tr key={o.id}>
              <td colSpan={6}>
                <OutletForm outlet={o} onClose={() => setEditing(null)} />
              </td>
            </tr>
          ) : (
            <tr key={o.id} data-outlet={o.id} data-active={String(o.active)} class={o.active ? '' : 'inactive'}>
              <td>{o.name}</td>
              <td>{o.location}</td>
              <td>
                {zoneLabel(o.timezone)} <span class="muted">{o.timezone}</span>
              </td>
              <td class="num" data-price={o.price ?? ''}>
                {o.price === null ? <span class="muted">{t('outlets.noPrice')}</span> : rupiah(o.price)}
              </td>
              <td>
                <ActiveBadge active={o.active} />
              </td>
              <td>
                <button type="button" class="link" data-action="edit-outlet" onClick={() => setEditing(o.id)}>
                  {t('common.edit')}
                </button>
              </td>
            </tr>
          )
        }
      />
    </section>
  );
}

function OutletForm({ outlet, onClose }: { outlet?: Outlet; onClose?: () => void }) {
  const [form, setForm] = useState({
    name: outlet?.name ?? '',
    location: outlet?.location ?? '',
    timezone: outlet?.timezone ?? 'Asia/Jakarta',
    price: outlet?.price ? String(outlet.price) : '',
    active: outlet?.active ?? true,
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const set = (name: keyof typeof form) => (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    setForm({ ...form, [name]: input.type === 'checkbox' ? input.checked : input.value });
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const found: Record<string, string> = {};
    if (!form.name.trim()) found.name = t('common.required');
    const price = parsePrice(form.price);
    if ('problem' in price) found.price = t(price.problem);
    setErrors(found);
    if ('problem' in price || Object.keys(found).length > 0) return;
    // An empty price is no price: null removes one the outlet had.
    const body = { name: form.name, location: form.location, timezone: form.timezone, price: price.price, active: form.active };
    try {
      if (outlet) await api('PUT', `/outlets/${outlet.id}`, body);
      else await api('POST', '/outlets', body);
      setErrors({});
      if (!outlet) setForm({ name: '', location: '', timezone: form.timezone, price: '', active: true });
      await loadOutlets();
      onClose?.();
    } catch (err) {
      if (err instanceof ApiError) setErrors(err.fields);
      setError(err);
    }
  };

  return (
    <form class="card form inline" onSubmit={submit} noValidate data-form={outlet ? 'outlet-edit' : 'outlet'}>
      {!outlet && <h2>{t('outlets.new')}</h2>}
      <Field label={t('common.name')} name="name" errors={errors}>
        <input name="name" value={form.name} onInput={set('name')} />
      </Field>
      <Field label={t('outlets.location')} name="location" errors={errors}>
        <input name="location" value={form.location} onInput={set('location')} />
      </Field>
      <Field label={t('outlets.timezone')} name="timezone" errors={errors}>
        <select name="timezone" value={form.timezone} onChange={set('timezone')}>
          {TIMEZONES.map((tz) => (
            <option key={tz} value={tz}>
              {zoneLabel(tz) === tz ? tz : `${zoneLabel(tz)} — ${tz}`}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t('outlets.priceLabel')} name="price" errors={errors}>
        <input
          name="price"
          inputMode="numeric"
          placeholder={t('outlets.noPrice')}
          value={form.price}
          onInput={set('price')}
        />
      </Field>
      <label class="check">
        <input name="active" type="checkbox" checked={form.active} onChange={set('active')} />
        <span>{t('outlets.activeLabel')}</span>
      </label>
      <div class="actions">
        <button type="submit">{outlet ? t('common.save') : t('common.create')}</button>
        {onClose && (
          <button type="button" class="link" onClick={onClose}>
            {t('common.cancel')}
          </button>
        )}
      </div>
      <ErrorNote error={error} />
    </form>
  );
}
