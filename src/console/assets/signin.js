// Passkey sign-in: discoverable credentials, so no user name is asked for.
'use strict';
(() => {
  const button = document.getElementById('passkey-signin');
  button.addEventListener('click', async () => {
    try {
      Palisade.show('message', 'Follow your browser’s prompt…');
      const start = await Palisade.post('/auth/passkey/options', {});
      const response = await SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: start.options });
      const returnTo = button.getAttribute('data-return-to') || '/account';
      const done = await Palisade.post('/auth/passkey/verify', {
        ceremony: start.ceremony,
        response,
        returnTo,
      });
      location.assign(done.redirect);
    } catch (error) {
      Palisade.show('message', error.message);
    }
  });
})();
