// Booths: online state (live), registering a booth, renaming, deactivating and reactivating
// one, and giving it a new token (the old one stops working at once). A token is shown once,
// as text and as a QR code the kiosk scans to set itself up. Below: failed deliveries.
import { useState } from 'preact/hooks';
import { ApiError, all, api } from '../api';
import { ActiveBadge, Confirm, ErrorNote, Field, OutletSelect, QrCode, Table, useLoad } from '../components';
import { lang, t } from '../i18n';
import type { Booth, DeadLetter, LiveEvent } from '../model';
import { outletName, outlets, timezoneOf } from '../outlets';
import { boothSetup } from '../qr';
import { user } from '../session';
import { formatTime } from '../time';
import { useLiveState } from '../useLive';

/** What is open under a booth's row. */
type Panel = { id: string; kind: 'rename' | 'active' | 'token' };

/** A booth with the token it was just given (shown once). */
type WithToken = Booth & { token: string };

export function BoothsPage() {
  const booths = useLiveState(() => all<Booth>('/booths', {}), applyPresence);
  const letters = useLoad(() => all<DeadLetter>('/dead-letters', {}, 200), []);
  const [panel, setPanel] = useState<Panel | null>(null);
  const names = Object.fromEntries((booths.data ?? []).map((b) => [b.id, b.name]));
  const replace = (booth: Booth) =>
    booths.update((list) => list.map((b) => (b.id === booth.id ? { ...b, ...booth } : b)));
  const close = () => setPanel(null);
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
        head={[
          t('common.name'),
          t('common.outlet'),
          t('booths.active'),
          t('common.status'),
          t('booths.lastSeen'),
          t('common.actions'),
        ]}
        row={(b) => {
          const open = panel?.id === b.id ? panel.kind : null;
          return [
            <tr key={b.id} data-booth={b.id} data-active={String(b.active)} class={b.active ? '' : 'inactive'}>
              <td>{b.name}</td>
              <td>{outletName(b.outlet_id)}</td>
              <td>
                <ActiveBadge active={b.active} />
              </td>
              <td>
                <OnlineDot online={b.online} />
              </td>
              <td>{formatTime(b.last_seen_at, timezoneOf(b.outlet_id), lang.value)}</td>
              <td class="row-actions">
                <button type="button" class="link" data-action="rename" onClick={() => setPanel({ id: b.id, kind: 'rename' })}>
                  {t('booths.rename')}
                </button>
                <button
                  type="button"
                  class="link"
                  data-action={b.active ? 'deactivate' : 'reactivate'}
                  onClick={() => setPanel({ id: b.id, kind: 'active' })}
                >
                  {b.active ? t('common.deactivate') : t('common.reactivate')}
                </button>
                <button
                  type="button"
                  class="link"
                  data-action="rotate-token"
                  onClick={() => setPanel({ id: b.id, kind: 'token' })}
                >
                  {t('booths.rotate')}
                </button>
              </td>
            </tr>,
            open && (
              <tr key={`${b.id}-panel`} data-panel={b.id} class="panel">
                <td colSpan={6}>
                  {open === 'rename' && (
                    <Rename
                      booth={b}
                      onDone={(booth) => {
                        replace(booth);
                        close();
                      }}
                      onClose={close}
                    />
                  )}
                  {open === 'active' && (
                    <ToggleActive
                      booth={b}
                      onDone={(booth) => {
                        replace(booth);
                        close();
                      }}
                      onClose={close}
                    />
                  )}
                  {open === 'token' && <Rotate booth={b} onClose={close} />}
                </td>
              </tr>
            ),
          ];
        }}
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

/** A booth's token, shown this once: as text to type and as a QR code the kiosk scans. */
function TokenReveal({ booth, onClose }: { booth: WithToken; onClose?: () => void }) {
  return (
    <div class="token-reveal" role="status" data-token-for={booth.id}>
      <p class="flash">{t('booths.tokenOnce', { name: booth.name })}</p>
      <div class="token-body">
        <QrCode name="booth-setup" text={boothSetup(location.origin, booth.id, booth.token)} label={t('booths.tokenQr')} />
        <div>
          <p class="muted">{t('booths.tokenQrHint')}</p>
          <p class="token">
            {t('booths.token')} <code data-token>{booth.token}</code>
          </p>
          {onClose && (
            <button type="button" data-action="token-stored" onClick={onClose}>
              {t('booths.tokenStored')}
            </button>
          )}
        </div>
      </div>
    </div>
  );
}

function Register({ onDone }: { onDone: (booth: Booth) => void }) {
  const me = user.value;
  const [outletId, setOutletId] = useState(me?.outlet_id ?? outlets.value[0]?.id ?? '');
  const [name, setName] = useState('');
  const [created, setCreated] = useState<WithToken | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setCreated(null);
    if (!name.trim()) {
      setErrors({ name: t('common.required') });
      return;
    }
    try {
      const booth = await api<WithToken>('POST', '/booths', { outlet_id: outletId, name: name.trim() });
      setCreated(booth);
      setName('');
      setErrors({});
      const { token: _shownOnce, ...listed } = booth;
      onDone(listed);
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
      {created && <TokenReveal booth={created} onClose={() => setCreated(null)} />}
    </form>
  );
}

interface RowProps {
  booth: Booth;
  onDone: (booth: Booth) => void;
  onClose: () => void;
}

function Rename({ booth, onDone, onClose }: RowProps) {
  const [name, setName] = useState(booth.name);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    if (!name.trim()) {
      setErrors({ name: t('common.required') });
      return;
    }
    try {
      onDone(await api<Booth>('PUT', `/booths/${booth.id}`, { name: name.trim() }));
    } catch (err) {
      if (err instanceof ApiError) setErrors(err.fields);
      setError(err);
    }
  };
  return (
    <form class="form inline" onSubmit={submit} noValidate data-form="booth-rename">
      <Field label={t('common.name')} name="name" errors={errors}>
        <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
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

/** Deactivates (its token refused, no more bookings) or reactivates a booth, once confirmed. */
function ToggleActive({ booth, onDone, onClose }: RowProps) {
  const [error, setError] = useState<unknown>(null);
  const send = async () => {
    setError(null);
    try {
      onDone(await api<Booth>('PUT', `/booths/${booth.id}`, { active: !booth.active }));
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
      text={t(booth.active ? 'booths.deactivateConfirm' : 'booths.reactivateConfirm', { name: booth.name })}
      yes={booth.active ? t('common.deactivate') : t('common.reactivate')}
      onYes={send}
      onNo={onClose}
    />
  );
}

/** A new token, once confirmed (the kiosk must then be set up again); shown once. */
function Rotate({ booth, onClose }: { booth: Booth; onClose: () => void }) {
  const [rotated, setRotated] = useState<WithToken | null>(null);
  const [error, setError] = useState<unknown>(null);
  const send = async () => {
    setError(null);
    try {
      setRotated(await api<WithToken>('POST', `/booths/${booth.id}/token`));
    } catch (err) {
      setError(err);
    }
  };
  if (rotated) return <TokenReveal booth={rotated} onClose={onClose} />;
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
  return <Confirm text={t('booths.rotateConfirm', { name: booth.name })} yes={t('booths.rotate')} onYes={send} onNo={onClose} />;
}
