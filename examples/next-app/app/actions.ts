'use server';

import { redirect } from 'next/navigation';
import { auth, passwordGrant } from '../lib/auth';

export async function signIn(form: FormData) {
  await auth.login(await passwordGrant(String(form.get('username') || 'ada')));
  redirect('/');
}

export async function signOut() {
  await auth.logout();
  redirect('/');
}
