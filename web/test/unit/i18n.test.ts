import { describe, expect, it } from 'vitest';
import { DICTIONARIES, translate } from '../../src/i18n';
import { AUDIT_ACTIONS, STATUSES } from '../../src/model';

describe('the dictionaries', () => {
  it('have the same keys in Indonesian and English', () => {
    expect(Object.keys(DICTIONARIES.id).sort()).toEqual(Object.keys(DICTIONARIES.en).sort());
  });

  it('name every status and every nav entry', () => {
    for (const lang of ['id', 'en'] as const) {
      for (const status of STATUSES) expect(DICTIONARIES[lang][`status.${status}`]).toBeTruthy();
    }
    expect(translate('id', 'status.EXPIRED')).toBe('Hangus');
    expect(translate('en', 'status.EXPIRED')).toBe('Expired');
  });

  it('name every audit action in both languages, each differently', () => {
    for (const lang of ['id', 'en'] as const) {
      const names = AUDIT_ACTIONS.map((action) => DICTIONARIES[lang][`action.${action}`]);
      for (const name of names) expect(name).toBeTruthy();
      expect(new Set(names).size).toBe(AUDIT_ACTIONS.length);
    }
    expect(translate('en', 'action.LOGIN_FAILED')).toBe('Failed login');
    expect(translate('id', 'action.LOGIN_FAILED')).toBe('Gagal masuk');
  });

  it('fills placeholders and shows a missing key as itself', () => {
    expect(translate('en', 'common.error', { message: 'boom' })).toBe('Something went wrong: boom');
    expect(translate('id', 'override.confirm', { from: 'A', to: 'B' })).toContain('A menjadi B');
    expect(translate('en', 'no.such.key')).toBe('no.such.key');
  });
});
