// Who is signed in, as auth sees the HttpOnly session cookie (scripts cannot read the cookie, and no token is
// ever kept in storage). Null when signed out.
import { get } from './api.js';

let current = null;

export const me = () => current;
export const isAdmin = () => current?.user.roles.includes('admin') ?? false;
export const forget = () => { current = null; };

export async function load() {
  const answer = await get('/auth/me', { quiet401: true });
  current = answer.ok ? answer.data : null;
  return current;
}
