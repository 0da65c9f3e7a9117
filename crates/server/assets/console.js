// The secops console's own script: keyboard triage on the alert queue (j/k move, x check, a
// acknowledge, c close with a reason, e escalate, Enter open, / filters), the close and escalate
// dialogs, and failed htmx requests shown in the page. Every page works without it; the page's
// Content-Security-Policy allows no inline script, so all of it is here.
(function () {
  'use strict';

  function csrf() {
    return document.body.getAttribute('data-csrf') || '';
  }

  // A message in the page's notice area, as text (never parsed as HTML).
  function flash(text) {
    var box = document.getElementById('flash');
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
  }

  document.addEventListener('htmx:responseError', function (e) {
    var xhr = e.detail.xhr;
    // The server's error page says why; parsing it runs nothing.
    var page = new DOMParser().parseFromString(xhr.responseText || '', 'text/html');
    var message = page.querySelector('.message');
    flash((message ? message.textContent : 'The request failed') + ' (' + xhr.status + ')');
  });
  document.addEventListener('htmx:sendError', function () {
    flash('The server could not be reached.');
  });
  document.addEventListener('htmx:beforeRequest', function () {
    var box = document.getElementById('flash');
    if (box) box.hidden = true;
  });

  var current = -1;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll('table[data-queue] tr[data-alert]'));
  }

  function mark(index) {
    var all = rows();
    if (!all.length) {
      current = -1;
      return;
    }
    index = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row) {
      row.classList.remove('current');
      row.removeAttribute('aria-current');
    });
    var row = all[index];
    row.classList.add('current');
    row.setAttribute('aria-current', 'true');
    var link = row.querySelector('td.rule a');
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: 'nearest' });
    current = index;
  }

  function currentRow() {
    var all = rows();
    return current >= 0 && current < all.length ? all[current] : null;
  }

  // One alert's change; its row comes back and replaces the old one.
  function act(row, action, values, advance) {
    var id = row.getAttribute('data-alert');
    var at = current;
    htmx.ajax('POST', '/alerts/' + id + '/' + action, {
      target: '#alert-' + id,
      swap: 'outerHTML',
      values: values || {},
      headers: { 'X-CSRF-Token': csrf() }
    }).then(function () {
      mark(advance ? at + 1 : at);
    });
  }

  var pending = null;

  function openDialog(name, row) {
    var dialog = document.getElementById(name);
    if (!dialog) return;
    pending = row;
    dialog.querySelectorAll('[data-alert-id]').forEach(function (span) {
      span.textContent = row.getAttribute('data-alert');
    });
    dialog.querySelector('form').reset();
    dialog.returnValue = '';
    dialog.showModal();
  }

  ['close-dialog', 'escalate-dialog'].forEach(function (name) {
    var dialog = document.getElementById(name);
    if (!dialog) return;
    dialog.addEventListener('close', function () {
      var row = pending;
      pending = null;
      var wanted = name === 'close-dialog' ? 'close' : 'escalate';
      if (!row || dialog.returnValue !== wanted) {
        mark(current);
        return;
      }
      var values = {};
      new FormData(dialog.querySelector('form')).forEach(function (value, key) {
        values[key] = value;
      });
      act(row, wanted, values, true);
    });
  });

  document.addEventListener('htmx:afterSwap', function (e) {
    if (e.detail.target && e.detail.target.id === 'results') current = -1;
  });

  document.addEventListener('click', function (e) {
    var row = e.target.closest && e.target.closest('table[data-queue] tr[data-alert]');
    if (row) {
      var index = rows().indexOf(row);
      if (index >= 0 && e.target.tagName !== 'A') mark(index);
    }
  });

  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var target = e.target;
    if (target && (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName))) return;
    if (document.querySelector('dialog[open]')) return;
    if (!document.querySelector('table[data-queue]')) return;
    var row = currentRow();
    switch (e.key) {
      case 'j':
        mark(current + 1);
        break;
      case 'k':
        mark(current <= 0 ? 0 : current - 1);
        break;
      case 'x':
        if (row) {
          var box = row.querySelector('input[type=checkbox]');
          if (box) box.checked = !box.checked;
        }
        break;
      case 'a':
        if (row) act(row, 'acknowledge', {}, true);
        break;
      case 'c':
        if (row) openDialog('close-dialog', row);
        break;
      case 'e':
        if (row) openDialog('escalate-dialog', row);
        break;
      case 'Enter':
      case 'o':
        if (!row) return;
        window.location.assign('/alerts/' + row.getAttribute('data-alert'));
        break;
      case '/':
        var filter = document.getElementById('f-rule');
        if (filter) filter.focus();
        break;
      default:
        return;
    }
    e.preventDefault();
  });
})();
