// System config (super admin): session duration and arrival tolerance.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api';
import { ErrorNote, Field, Loading, useLoad } from '../components';
import { lang, t } from '../i18n';
import type { SystemConfig } from '../model';
import { formatTime } from '../time';

export function ConfigPage() {
  const config = useLoad(() => api<SystemConfig>('GET', '/config/system'), []);
  const [form, setForm] = useState({ duration: '', tolerance: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (config.data) {
      setForm({
        duration: String(config.data.session_duration_minutes),
        tolerance: String(config.data.arrival_tolerance_minutes),
      });
    }
  }, [config.data]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      await api('PUT', '/config/system', {
        session_duration_minutes: Number(form.duration),
        arrival_tolerance_minutes: Number(form.tolerance),
      });
      setErrors({});
      setSaved(true);
      config.reload();
    } catch (err) {
      if (err instanceof ApiError) setErrors(err.fields);
      setError(err);
    }
  };

  if (config.loading && !config.data) return <Loading />;
  return (
    <section>
      <header class="page-head">
        <h1>{t('config.title')}</h1>
      </header>
      <ErrorNote error={config.error} />
      <form class="card form" onSubmit={submit} noValidate data-form="config">
        <Field label={t('config.duration')} name="session_duration_minutes" errors={errors}>
          <input
            name="session_duration_minutes"
            type="number"
            value={form.duration}
            onInput={(e) => setForm({ ...form, duration: e.currentTarget.value })}
          />
        </Field>
        <Field label={t('config.tolerance')} name="arrival_tolerance_minutes" errors={errors}>
          <input
            name="arrival_tolerance_minutes"
            type="number"
            value={form.tolerance}
            onInput={(e) => setForm({ ...form, tolerance: e.currentTarget.value })}
          />
        </Field>
        {config.data?.updated_at && (
          <p class="muted">{t('config.updated', { at: formatTime(config.data.updated_at, 'Asia/Jakarta', lang.value) })}</p>
        )}
        {saved && <p class="note" role="status">{t('common.saved')}</p>}
        <ErrorNote error={error} />
        <div class="actions">
          <button type="submit">{t('common.save')}</button>
        </div>
      </form>
    </section>
  );
}
