// Admin users (super admin): list and create; an outlet admin is bound to one outlet.
import { useState } from 'preact/hooks';
import { ApiError, all, api } from '../api';
import { ErrorNote, Field, OutletSelect, Table, useLoad } from '../components';
import { t } from '../i18n';
import type { User } from '../model';
import { outletName, outlets } from '../outlets';

export function AdminUsersPage() {
  const users = useLoad(() => all<User>('/admin-users', {}), []);
  return (
    <section>
      <header class="page-head">
        <h1>{t('users.title')}</h1>
      </header>
      <UserForm onDone={users.reload} />
      <Table
        list="users"
        items={users.loading && !users.data ? undefined : users.data}
        error={users.error}
        head={[t('common.name'), t('users.email'), t('users.role'), t('common.outlet')]}
        row={(u) => (
          <tr key={u.id} data-user={u.email}>
            <td>{u.name}</td>
            <td>{u.email}</td>
            <td>{t(`role.${u.role}`)}</td>
            <td>{u.outlet_id ? outletName(u.outlet_id) : '—'}</td>
          </tr>
        )}
      />
    </section>
  );
}

function UserForm({ onDone }: { onDone: () => void }) {
  const blank = { name: '', email: '', password: '', role: 'admin', outlet_id: outlets.value[0]?.id ?? '' };
  const [form, setForm] = useState(blank);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const set = (name: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value });

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const missing: Record<string, string> = {};
    for (const key of ['name', 'email', 'password'] as const) {
      if (!form[key].trim()) missing[key] = t('common.required');
    }
    if (Object.keys(missing).length > 0) {
      setErrors(missing);
      return;
    }
    try {
      await api('POST', '/admin-users', {
        name: form.name.trim(),
        email: form.email.trim(),
        password: form.password,
        role: form.role,
        ...(form.role === 'admin' ? { outlet_id: form.outlet_id } : {}),
      });
      setForm(blank);
      setErrors({});
      onDone();
    } catch (err) {
      if (err instanceof ApiError) {
        setErrors(err.code === 'EMAIL_TAKEN' ? { email: err.message } : err.fields);
      }
      setError(err);
    }
  };

  return (
    <form class="card form inline" onSubmit={submit} noValidate data-form="user">
      <h2>{t('users.new')}</h2>
      <Field label={t('common.name')} name="name" errors={errors}>
        <input name="name" value={form.name} onInput={set('name')} />
      </Field>
      <Field label={t('users.email')} name="email" errors={errors}>
        <input name="email" type="email" value={form.email} onInput={set('email')} />
      </Field>
      <Field label={t('users.password')} name="password" errors={errors}>
        <input name="password" type="password" autoComplete="new-password" value={form.password} onInput={set('password')} />
      </Field>
      <Field label={t('users.role')} name="role" errors={errors}>
        <select name="role" value={form.role} onChange={set('role')}>
          <option value="admin">{t('role.admin')}</option>
          <option value="super_admin">{t('role.super_admin')}</option>
        </select>
      </Field>
      {form.role === 'admin' && (
        <OutletSelect value={form.outlet_id} onChange={(id) => setForm({ ...form, outlet_id: id })} errors={errors} />
      )}
      <div class="actions">
        <button type="submit">{t('common.create')}</button>
      </div>
      <ErrorNote error={error} />
    </form>
  );
}
