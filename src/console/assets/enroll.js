// Enrollment: the one-time secret is in the URL fragment (never sent to any server in a URL);
// it is read once, removed from the address bar, and posted with the new passkey.
'use strict';
(() => {
  const token = location.hash.slice(1);
  history.replaceState(null, '', location.pathname);
  const form = document.getElementById('enroll-form');
  if (!token) {
    Palisade.show('message', 'This link has no enrollment code. Ask an administrator for a new link.');
    form.hidden = true;
    return;
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const displayName = document.getElementById('display-name').value.trim();
    try {
      Palisade.show('message', 'Follow your browser’s prompt to create a passkey…');
      const start = await Palisade.post('/auth/enroll/options', { token, displayName });
      const response = await SimpleWebAuthnBrowser.startRegistration({ optionsJSON: start.options });
      const done = await Palisade.post('/auth/enroll/verify', {
        ceremony: start.ceremony,
        response,
        displayName,
      });
      location.assign(done.redirect);
    } catch (error) {
      Palisade.show('message', error.message);
    }
  });
})();
