import { describe, expect, it } from 'vitest';
import { ApiError, cookie, endsSession, query, toError } from '../../src/api';

describe('the API client', () => {
  it('reads a cookie out of document.cookie', () => {
    expect(cookie('a=1; boothhub_csrf=abc=; b=2', 'boothhub_csrf')).toBe('abc=');
    expect(cookie('a=1', 'boothhub_csrf')).toBeUndefined();
  });

  it('builds a query string from the values that are set', () => {
    expect(query({ status: 'DONE', outlet_id: '', cursor: undefined, limit: 25 })).toBe('?status=DONE&limit=25');
    expect(query({})).toBe('');
  });

  it("turns the contract's error body into field errors", async () => {
    const body = {
      error: { code: 'VALIDATION_FAILED', message: 'invalid values', details: { fields: { 'user.phone': 'bad' } } },
    };
    const error = await toError(new Response(JSON.stringify(body), { status: 422 }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.fields).toEqual({ 'user.phone': 'bad' });
    const plain = await toError(new Response('oops', { status: 502, statusText: 'Bad Gateway' }));
    expect(plain.code).toBe('HTTP_502');
    expect(plain.fields).toEqual({});
  });

  it('takes a 401 as the end of the session, but not a wrong password typed', () => {
    expect(endsSession(401, 'UNAUTHENTICATED')).toBe(true);
    expect(endsSession(401, 'INVALID_CREDENTIALS')).toBe(false);
    expect(endsSession(403, 'FORBIDDEN')).toBe(false);
    expect(endsSession(409, 'LAST_SUPER_ADMIN')).toBe(false);
  });
});
