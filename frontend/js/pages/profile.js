//! Profile: the nickname and avatar others see in chat, gifts and rankings,
//! with a live preview; saved with PATCH /api/me.

import { patch } from '../api.js';
import { me, setUser } from '../session.js';
import { el, field, setFieldError, toast, avatar, errorSentence } from '../ui.js';

export function render(main) {
  const user = me();
  const nickname = el('input', { type: 'text', id: 'profile-nickname', maxlength: 20, required: true, value: user.nickname, autocomplete: 'nickname' });
  const avatarUrl = el('input', { type: 'url', id: 'profile-avatar', maxlength: 300, value: user.avatar || '', placeholder: 'https://…', inputmode: 'url' });
  const preview = el('div.profile-preview', { 'data-testid': 'profile-preview' });
  const save = el('button.btn.btn-primary', { type: 'submit', id: 'profile-save' }, 'Save');
  const err = el('p.form-error', { role: 'alert' });

  function draw() {
    const shown = { id: user.id, nickname: nickname.value.trim() || user.nickname, avatar: avatarUrl.value.trim() };
    preview.replaceChildren(avatar(shown, 'lg'), el('strong', shown.nickname));
  }
  nickname.addEventListener('input', draw);
  avatarUrl.addEventListener('input', draw);

  const form = el('form.profile-form', { novalidate: true },
    preview,
    field('Nickname', nickname, '1 to 20 characters. Everyone in a room sees it.'),
    field('Avatar picture', avatarUrl, 'An https:// link to a picture, or leave it empty for your initial.'),
    err, save);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = ''; setFieldError(nickname, ''); setFieldError(avatarUrl, '');
    const name = nickname.value.trim();
    const pic = avatarUrl.value.trim();
    if (!name) { setFieldError(nickname, 'Choose a nickname of 1 to 20 characters.'); nickname.focus(); return; }
    if (pic && !/^https:\/\/\S+$/.test(pic)) { setFieldError(avatarUrl, 'Use a link that starts with https://, or leave it empty.'); avatarUrl.focus(); return; }
    save.disabled = true;
    try {
      const updated = await patch('/api/me', { nickname: name, avatar: pic });
      setUser({ ...user, ...updated });
      toast('Saved. Rooms show your new name from your next message.', 'success');
    } catch (ex) {
      if (ex.field === 'nickname') setFieldError(nickname, errorSentence(ex));
      else if (ex.field === 'avatar') setFieldError(avatarUrl, errorSentence(ex));
      else err.textContent = errorSentence(ex);
    } finally {
      save.disabled = false;
    }
  });
  draw();
  main.append(el('section.page.profile-page',
    el('div.page-head', el('div', el('h1', 'Your profile'), el('p.sub', 'How you appear in rooms, gifts and rankings.'))),
    el('div.card', form)));
  return undefined;
}
