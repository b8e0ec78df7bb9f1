// Booths: online state, registering a booth (its token is shown once), failed deliveries.
import { useState } from 'preact/hooks';
import { ApiError, all, api } from '../api';
import { ErrorNote, Field, OutletSelect, Table, useLoad } from '../components';
import { lang, t } from '../i18n';
import type { Booth, DeadLetter, LiveEvent } from '../model';
import { outletName, outlets, timezoneOf } from '../outlets';
import { user } from '../session';
import { formatTime } from '../time';
import { useLiveState } from '../useLive';

export function BoothsPage() {
  const booths = useLiveState(() => all<Booth>('/booths', {}), applyPresence);
  const letters = useLoad(() => all<DeadLetter>('/dead-letters', {}, 200), []);
  const names = Object.fromEntries((booths.data ?? []).map((b) => [b.id, b.name]));
  return (
    <section>
      <header class="page-head">
        <h1>{t('booths.title')}</h1>
      </header>
      <Register onDone={(booth) => booths.update((list) => [...list, booth])} />
      <Table
        list="booths"
        items={booths.data}
        error={booths.error}
        head={[t('common.name'), t('common.outlet'), t('common.status'), t('booths.lastSeen')]}
        row={(b) => (
          <tr key={b.id} data-booth={b.id}>
            <td>{b.name}</td>
            <td>{outletName(b.outlet_id)}</td>
            <td>
              <OnlineDot online={b.online} />
            </td>
            <td>{formatTime(b.last_seen_at, timezoneOf(b.outlet_id), lang.value)}</td>
          </tr>
        )}
      />
      <h2>{t('booths.deadLetters')}</h2>
      <Table
        list="dead-letters"
        items={letters.loading && !letters.data ? undefined : letters.data}
        error={letters.error}
        empty={t('booths.deadLettersEmpty')}
        head={[t('common.time'), t('bookings.booth'), t('booths.event'), t('booths.deliveries')]}
        numeric={[3]}
        row={(l) => (
          <tr key={l.id} data-letter={l.id}>
            <td>{formatTime(l.at, timezoneOf(l.outlet_id), lang.value)}</td>
            <td>{names[l.booth_id] ?? l.booth_id}</td>
            <td>
              {t(`event.${l.event.event}`)} #{l.seq}
            </td>
            <td class="num">{l.deliveries}</td>
          </tr>
        )}
      />
    </section>
  );
}

function OnlineDot({ online }: { online: boolean }) {
  return (
    <span class={online ? 'dot on' : 'dot off'} data-online={String(online)}>
      {online ? t('booths.online') : t('booths.offline')}
    </span>
  );
}

/** A booth coming online or going offline, on top of the list. */
export function applyPresence(booths: Booth[], event: LiveEvent): Booth[] {
  if (event.event !== 'BOOTH_ONLINE' && event.event !== 'BOOTH_OFFLINE') return booths;
  const online = event.event === 'BOOTH_ONLINE';
  return booths.map((b) => (b.id === event.booth_id ? { ...b, online, last_seen_at: event.at } : b));
}

function Register({ onDone }: { onDone: (booth: Booth) => void }) {
  const me = user.value;
  const [outletId, setOutletId] = useState(me?.outlet_id ?? outlets.value[0]?.id ?? '');
  const [name, setName] = useState('');
  const [token, setToken] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setToken(null);
    if (!name.trim()) {
      setErrors({ name: t('common.required') });
      return;
    }
    try {
      const booth = await api<Booth & { token: string }>('POST', '/booths', { outlet_id: outletId, name: name.trim() });
      setToken(booth.token);
      setName('');
      setErrors({});
      onDone({ id: booth.id, outlet_id: booth.outlet_id, name: booth.name, online: false, last_seen_at: null });
    } catch (err) {
      if (err instanceof ApiError) setErrors(err.fields);
      setError(err);
    }
  };

  return (
    <form class="card form inline" onSubmit={submit} noValidate data-form="booth">
      <h2>{t('booths.register')}</h2>
      <OutletSelect value={outletId} onChange={setOutletId} errors={errors} locked={me?.role !== 'super_admin'} />
      <Field label={t('common.name')} name="name" errors={errors}>
        <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <div class="actions">
        <button type="submit">{t('common.create')}</button>
      </div>
      <ErrorNote error={error} />
      {token && (
        <p class="token" role="status">
          {t('booths.token')} <code data-token>{token}</code>
        </p>
      )}
    </form>
  );
}
