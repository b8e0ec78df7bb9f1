// Admin users (super admin): list and create; edit name, role and outlet; deactivate and
// reactivate (asked first: deactivating ends every login of the user at once); set a user's
// password. The hub keeps the last active super admin (409 LAST_SUPER_ADMIN, shown as such).
import { useState } from 'preact/hooks';
import { ApiError, all, api } from '../api';
import { ActiveBadge, Confirm, ErrorNote, Field, OutletSelect, Table, useLoad } from '../components';
import { newPasswordProblem } from '../forms';
import { t } from '../i18n';
import type { User } from '../model';
import { outletName, outlets } from '../outlets';
import { loadSession, user as me } from '../session';

/** What is open under a user's row. */
type Panel = { id: string; kind: 'edit' | 'password' | 'active' };

export function AdminUsersPage() {
  const users = useLoad(() => all<User>('/admin-users', {}), []);
  const [panel, setPanel] = useState<Panel | null>(null);
  const close = () => setPanel(null);
  const changed = (who: User) => {
    setPanel(null);
    users.reload();
    // One's own role or name shows in the sidebar.
    if (who.id === me.value?.id) loadSession().catch(() => {});
  };
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
        head={[
          t('common.name'),
          t('users.email'),
          t('users.role'),
          t('common.outlet'),
          t('common.status'),
          t('common.actions'),
        ]}
        row={(u) => {
          const open = panel?.id === u.id ? panel.kind : null;
          return [
            <tr key={u.id} data-user={u.email} data-active={String(u.active)} class={u.active ? '' : 'inactive'}>
              <td>{u.name}</td>
              <td>{u.email}</td>
              <td>{t(`role.${u.role}`)}</td>
              <td>{u.outlet_id ? outletName(u.outlet_id) : '—'}</td>
              <td>
                <ActiveBadge active={u.active} />
              </td>
              <td class="row-actions">
                <button type="button" class="link" data-action="edit-user" onClick={() => setPanel({ id: u.id, kind: 'edit' })}>
                  {t('common.edit')}
                </button>
                <button
                  type="button"
                  class="link"
                  data-action="set-password"
                  onClick={() => setPanel({ id: u.id, kind: 'password' })}
                >
                  {t('users.setPassword')}
                </button>
                <button
                  type="button"
                  class="link"
                  data-action={u.active ? 'deactivate' : 'reactivate'}
                  onClick={() => setPanel({ id: u.id, kind: 'active' })}
                >
                  {u.active ? t('common.deactivate') : t('common.reactivate')}
                </button>
              </td>
            </tr>,
            open && (
              <tr key={`${u.id}-panel`} data-panel={u.email} class="panel">
                <td colSpan={6}>
                  {open === 'edit' && <EditUser user={u} onDone={changed} onClose={close} />}
                  {open === 'password' && <SetPassword user={u} onDone={close} onClose={close} />}
                  {open === 'active' && <ToggleActive user={u} onDone={changed} onClose={close} />}
                </td>
              </tr>
            ),
          ];
        }}
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

interface RowProps {
  user: User;
  onDone: (user: User) => void;
  onClose: () => void;
}

/** Name, role and outlet (an admin needs one; a super admin has none). */
function EditUser({ user, onDone, onClose }: RowProps) {
  const [form, setForm] = useState({
    name: user.name,
    role: user.role as string,
    outlet_id: user.outlet_id ?? outlets.value[0]?.id ?? '',
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
      const saved = await api<User>('PUT', `/admin-users/${user.id}`, {
        name: form.name.trim(),
        role: form.role,
        ...(form.role === 'admin' ? { outlet_id: form.outlet_id } : {}),
      });
      onDone(saved);
    } catch (err) {
      if (err instanceof ApiError) setErrors(err.fields);
      setError(err);
    }
  };

  return (
    <form class="form inline" onSubmit={submit} noValidate data-form="user-edit">
      <Field label={t('common.name')} name="name" errors={errors}>
        <input name="name" value={form.name} onInput={set('name')} />
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
        <button type="submit">{t('common.save')}</button>
        <button type="button" class="link" onClick={onClose}>
          {t('common.cancel')}
        </button>
      </div>
      <ErrorNote error={error} />
    </form>
  );
}

/** A new password for the user, typed twice; the hub ends the user's logins. */
function SetPassword({ user, onDone, onClose }: Omit<RowProps, 'onDone'> & { onDone: () => void }) {
  const [form, setForm] = useState({ password: '', repeat: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const problem = newPasswordProblem(form.password, form.repeat);
    if (problem) {
      setErrors(problem === 'password.mismatch' ? { repeat: t(problem) } : { password: t(problem) });
      return;
    }
    try {
      await api('POST', `/admin-users/${user.id}/password`, { password: form.password });
      setErrors({});
      setForm({ password: '', repeat: '' });
      setDone(true);
    } catch (err) {
      if (err instanceof ApiError) setErrors(err.fields);
      setError(err);
    }
  };

  return (
    <form class="form inline" onSubmit={submit} noValidate data-form="user-password">
      <p class="muted">{t('users.setPasswordHint', { name: user.name })}</p>
      <Field label={t('password.new')} name="password" errors={errors}>
        <input
          name="password"
          type="password"
          autoComplete="new-password"
          maxLength={200}
          value={form.password}
          onInput={(e) => setForm({ ...form, password: e.currentTarget.value })}
        />
      </Field>
      <Field label={t('password.repeat')} name="repeat" errors={errors}>
        <input
          name="repeat"
          type="password"
          autoComplete="new-password"
          maxLength={200}
          value={form.repeat}
          onInput={(e) => setForm({ ...form, repeat: e.currentTarget.value })}
        />
      </Field>
      <div class="actions">
        {done ? (
          <button type="button" onClick={onDone}>
            {t('common.close')}
          </button>
        ) : (
          <>
            <button type="submit">{t('users.setPassword')}</button>
            <button type="button" class="link" onClick={onClose}>
              {t('common.cancel')}
            </button>
          </>
        )}
      </div>
      {done && (
        <p class="note" role="status">
          {t('users.passwordSet')}
        </p>
      )}
      <ErrorNote error={error} />
    </form>
  );
}

/** Deactivates or reactivates the user, once confirmed. */
function ToggleActive({ user, onDone, onClose }: RowProps) {
  const [error, setError] = useState<unknown>(null);
  const send = async () => {
    setError(null);
    try {
      onDone(await api<User>('PUT', `/admin-users/${user.id}`, { active: !user.active }));
    } catch (err) {
      setError(err);
    }
  };
  if (error) {
    return (
      <div class="confirm">
        <ErrorNote error={error} />
        <button type="button" class="link" onClick={onClose}>
          {t('common.close')}
        </button>
      </div>
    );
  }
  return (
    <Confirm
      text={t(user.active ? 'users.deactivateConfirm' : 'users.reactivateConfirm', { name: user.name })}
      yes={user.active ? t('common.deactivate') : t('common.reactivate')}
      onYes={send}
      onNo={onClose}
    />
  );
}
