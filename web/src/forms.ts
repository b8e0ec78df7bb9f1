// Checks of form input made before a call, so that an obvious mistake needs no round trip (the
// hub checks everything again). Pure: no DOM, no API; messages are i18n keys.

/** Passwords are 10 to 200 characters (contract §4), counted as the hub counts them. */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;

/** What is wrong with a new password and its repetition, as an i18n key, or null. */
export function newPasswordProblem(password: string, repeat: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) return 'password.length';
  if (password !== repeat) return 'password.mismatch';
  return null;
}
