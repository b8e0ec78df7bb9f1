// Outlets (super admin): list, create, edit name, location and time zone.
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api';
import { ErrorNote, Field, Table } from '../components';
import { t } from '../i18n';
import type { Outlet } from '../model';
import { loadOutlets, outlets } from '../outlets';
import { TIMEZONES, zoneLabel } from '../time';

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
        head={[t('common.name'), t('outlets.location'), t('outlets.timezone'), t('common.actions')]}
        row={(o) =>
          editing === o.id ? (
            <tr key={o.id}>
              <td colSpan={4}>
                <OutletForm outlet={o} onClose={() => setEditing(null)} />
              </td>
            </tr>
          ) : (
            <tr key={o.id} data-outlet={o.id}>
              <td>{o.name}</td>
              <td>{o.location}</td>
              <td>
                {zoneLabel(o.timezone)} <span class="muted">{o.timezone}</span>
              </td>
              <td>
                <button type="button" class="link" onClick={() => setEditing(o.id)}>
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
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const set = (name: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!form.name.trim()) {
      setErrors({ name: t('common.required') });
      return;
    }
    try {
      if (outlet) await api('PUT', `/outlets/${outlet.id}`, form);
      else await api('POST', '/outlets', form);
      setErrors({});
      if (!outlet) setForm({ name: '', location: '', timezone: form.timezone });
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
