import { describe, expect, it } from 'vitest';
import { PASSWORD_MAX, newPasswordProblem } from '../../src/forms';

describe('a new password', () => {
  it('is 10 to 200 characters, counted as characters (not UTF-16 units)', () => {
    expect(newPasswordProblem('123456789', '123456789')).toBe('password.length');
    expect(newPasswordProblem('1234567890', '1234567890')).toBeNull();
    const longest = 'x'.repeat(PASSWORD_MAX);
    expect(newPasswordProblem(longest, longest)).toBeNull();
    expect(newPasswordProblem(longest + 'x', longest + 'x')).toBe('password.length');
    // Ten emoji are ten characters for the hub, twenty UTF-16 units for JavaScript.
    const emoji = '🔑'.repeat(10);
    expect(newPasswordProblem(emoji, emoji)).toBeNull();
    expect(newPasswordProblem('🔑'.repeat(9), '🔑'.repeat(9))).toBe('password.length');
  });

  it('must be typed the same twice', () => {
    expect(newPasswordProblem('1234567890', '1234567891')).toBe('password.mismatch');
  });
});
