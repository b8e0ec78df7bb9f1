// One's own password (every admin and super admin): the current one, and the new one twice.
// The hub ends every other login of the user; this one stays.
import { useState } from 'preact/hooks';
import { ApiError, api } from '../api';
import { ErrorNote, Field } from '../components';
import { newPasswordProblem } from '../forms';
import { t } from '../i18n';
import { user } from '../session';

export function PasswordPage() {
  const blank = { current: '', next: '', repeat: '' };
  const [form, setForm] = useState(blank);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const set = (name: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    const found: Record<string, string> = {};
    if (!form.current) found.current_password = t('common.required');
    const problem = newPasswordProblem(form.next, form.repeat);
    if (problem === 'password.mismatch') found.repeat = t(problem);
    else if (problem) found.new_password = t(problem);
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      await api('PUT', '/auth/password', { current_password: form.current, new_password: form.next });
      setForm(blank);
      setDone(true);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'INVALID_CREDENTIALS') {
        setErrors({ current_password: t('password.currentWrong') });
      } else {
        if (err instanceof ApiError) setErrors(err.fields);
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <header class="page-head">
        <h1>{t('password.title')}</h1>
      </header>
      <form class="card form" onSubmit={submit} noValidate data-form="password">
        {/* For the browser's password manager: whose password this is. */}
        <input type="email" name="username" autoComplete="username" value={user.value?.email ?? ''} hidden readOnly />
        <Field label={t('password.current')} name="current_password" errors={errors}>
          <input
            name="current_password"
            type="password"
            autoComplete="current-password"
            value={form.current}
            onInput={set('current')}
          />
        </Field>
        <Field label={t('password.new')} name="new_password" errors={errors}>
          <input
            name="new_password"
            type="password"
            autoComplete="new-password"
            minLength={10}
            maxLength={200}
            value={form.next}
            onInput={set('next')}
          />
        </Field>
        <Field label={t('password.repeat')} name="repeat" errors={errors}>
          <input
            name="repeat"
            type="password"
            autoComplete="new-password"
            maxLength={200}
            value={form.repeat}
            onInput={set('repeat')}
          />
        </Field>
        <p class="muted">{t('password.hint')}</p>
        {done && (
          <p class="note" role="status">
            {t('password.changed')}
          </p>
        )}
        <ErrorNote error={error} />
        <div class="actions">
          <button type="submit" disabled={busy}>
            {t('password.submit')}
          </button>
        </div>
      </form>
    </section>
  );
}
