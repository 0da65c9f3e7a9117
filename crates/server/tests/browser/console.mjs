// The console's smoke test in headless Chromium (Debian's, driven by playwright-core): an analyst's
// session end to end. Run by the server's Rust test `the_console_in_a_real_browser`, which prepares
// the store and the server and checks the store afterwards; it passes what it prepared here:
//
//   SECOPS_URL          the server (http://127.0.0.1:PORT)
//   SECOPS_USER, SECOPS_PASSWORD
//   SECOPS_KB_RULE      a rule whose 40 open alerts are triaged from the keyboard
//   SECOPS_BULK_RULE    a rule whose 100 open alerts are closed in bulk
//   SECOPS_HOSTILE      the id of an alert whose text is attacker-written
//   SECOPS_HUNT         a hunt query over the server's lake
//   SECOPS_RUN          a response run another user requested, awaiting approval
//   SECOPS_SHOTS        (optional) a folder for screenshots of the queue, an alert, a case, a hunt
//
// It prints one JSON line of what it measured and exits 0, or names the step that failed and
// exits 1.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.env.SECOPS_URL;
const user = process.env.SECOPS_USER;
const password = process.env.SECOPS_PASSWORD;
const kbRule = process.env.SECOPS_KB_RULE;
const bulkRule = process.env.SECOPS_BULK_RULE;
const hostile = process.env.SECOPS_HOSTILE;
const huntQuery = process.env.SECOPS_HUNT;
const responseRun = process.env.SECOPS_RUN;
const shots = process.env.SECOPS_SHOTS || '';

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const measured = {};
let current = 'starting';

function check(condition, what) {
  if (!condition) throw new Error(what);
}

async function step(name, work) {
  current = name;
  const started = Date.now();
  await work();
  process.stderr.write(`ok  ${name} (${Date.now() - started} ms)\n`);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

async function open(javaScript) {
  const dir = mkdtempSync(join(tmpdir(), 'secops-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    javaScriptEnabled: javaScript,
    viewport: { width: 1440, height: 900 },
    acceptDownloads: true,
  });
  return { context, dir };
}

async function signIn(page) {
  await page.goto(`${url}/alerts?status=open`);
  check(page.url().includes('/login'), `not sent to sign in: ${page.url()}`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/alerts\?status=open/);
}

async function main() {
  const { context, dir } = await open(true);
  const page = context.pages()[0] || (await context.newPage());
  const scriptErrors = [];
  page.on('pageerror', (e) => scriptErrors.push(String(e)));
  page.on('response', (r) => {
    // Refusals the session provokes on purpose are none: every answer below 400.
    if (r.status() >= 400) scriptErrors.push(`${r.status()} ${r.url()}`);
  });
  let caseNumber = '';
  try {
    await step('sign in', () => signIn(page));

    await step('attacker-written text stays text', async () => {
      for (const path of ['/alerts?status=open', `/alerts/${hostile}`, '/alerts?status=open&group=rule,user']) {
        await page.goto(`${url}${path}`);
        const pwned = await page.evaluate(() => window.__pwned);
        check(pwned === undefined, `a script ran on ${path}`);
        const images = await page.locator('img').count();
        check(images === 0, `an image element was made on ${path}`);
        const text = await page.locator('main').textContent();
        check(text.includes('<script>window.__pwned=1</script>'), `the hostile text is not shown as text on ${path}`);
      }
    });

    await step('keyboard triage: 30 alerts acknowledged, one closed with a reason, one escalated', async () => {
      await page.goto(`${url}/alerts?status=open&rule=${encodeURIComponent(kbRule)}&limit=50`);
      await shot(page, 'queue');
      const rows = page.locator('table[data-queue] tr[data-alert]');
      check((await rows.count()) >= 35, `only ${await rows.count()} rows to triage`);
      await page.locator('main h1').click();
      await page.keyboard.press('j');
      const started = Date.now();
      for (let i = 0; i < 30; i++) {
        const id = await rows.nth(i).getAttribute('data-alert');
        await page.keyboard.press('a');
        await page.locator(`#alert-${id} td.status`, { hasText: 'acknowledged' }).waitFor();
      }
      const seconds = (Date.now() - started) / 1000;
      measured.triage_actions = 30;
      measured.triage_seconds = seconds;
      measured.triage_per_minute = Math.round((30 / seconds) * 60);
      // The cursor is on the 31st row: close it with a reason from the dialog.
      const closeId = await rows.nth(30).getAttribute('data-alert');
      check((await rows.nth(30).getAttribute('class')).includes('current'), 'the cursor did not move on');
      await page.keyboard.press('c');
      const dialog = page.locator('#close-dialog');
      await dialog.waitFor({ state: 'visible' });
      await dialog.getByLabel('Reason').selectOption('false_positive');
      await dialog.getByLabel('Comment').fill('scanner on the allow list');
      await dialog.getByRole('button', { name: 'Close alert' }).click();
      await page.locator(`#alert-${closeId} td.status`, { hasText: 'closed' }).waitFor();
      // The next is escalated to a new case with a comment.
      const escalateId = await rows.nth(31).getAttribute('data-alert');
      await page.keyboard.press('e');
      const escalate = page.locator('#escalate-dialog');
      await escalate.waitFor({ state: 'visible' });
      await escalate.getByLabel('Comment').fill('same source as the spraying');
      await escalate.getByRole('button', { name: 'Escalate' }).click();
      await page.locator(`#alert-${escalateId} a`, { hasText: 'case' }).waitFor();
      // Two more checked with x for the merge below.
      await page.keyboard.press('x');
      await page.keyboard.press('j');
      await page.keyboard.press('x');
      const checked = await page.locator('table[data-queue] input[type=checkbox]:checked').count();
      check(checked === 2, `${checked} boxes checked with x`);
      measured.checked_for_merge = [
        await rows.nth(32).getAttribute('data-alert'),
        await rows.nth(33).getAttribute('data-alert'),
      ];
    });

    await step('open a case by hand to merge into', async () => {
      await page.goto(`${url}/cases`);
      await page.getByLabel('Title').fill('Password spraying against the VPN');
      await page.getByLabel('Severity').selectOption('high');
      await page.getByRole('button', { name: 'Open' }).click();
      await page.waitForURL(/\/cases\/\d+$/);
      caseNumber = page.url().split('/').pop();
      measured.case = Number(caseNumber);
    });

    await step('merge the checked alerts into the case', async () => {
      await page.goto(`${url}/alerts?status=open&rule=${encodeURIComponent(kbRule)}&limit=50`);
      for (const id of measured.checked_for_merge) {
        await page.locator(`#alert-${id} input[type=checkbox]`).check();
      }
      const bulk = page.locator('fieldset.bulk');
      await bulk.getByLabel('Action').selectOption('merge');
      await bulk.getByLabel('Case number (to merge)').fill(caseNumber);
      await bulk.getByLabel('Comment (on the case)').fill('two more from the same source');
      await bulk.getByRole('button', { name: 'Apply' }).click();
      await page.locator('.notice', { hasText: `2 alerts merged into case #${caseNumber}` }).waitFor();
    });

    await step('bulk-close 100 alerts with a reason', async () => {
      await page.goto(`${url}/alerts?status=open&rule=${encodeURIComponent(bulkRule)}`);
      const bulk = page.locator('fieldset.bulk');
      await bulk.getByLabel('every alert matching the filters (up to 10,000)').check();
      await bulk.getByLabel('Action').selectOption('close');
      await bulk.getByLabel('Reason (to close)').selectOption('benign');
      await bulk.getByRole('button', { name: 'Apply' }).click();
      await page.locator('.notice', { hasText: '100 alerts closed' }).waitFor();
      const left = await page.locator('table[data-queue] tr[data-alert]').count();
      check(left === 0, `${left} alerts of the rule still open`);
    });

    await step('an alert: its page, top values of a field', async () => {
      const id = measured.checked_for_merge[0];
      await page.goto(`${url}/alerts/${id}`);
      await shot(page, 'alert');
      await page.locator('td.acts a', { hasText: 'top values' }).first().click();
      await page.locator('#top-values h2', { hasText: 'Top values of' }).waitFor();
    });

    await step('run a hunt and attach its result to the case', async () => {
      await page.goto(`${url}/hunts`);
      await page.locator('#h-q').fill(huntQuery);
      await page.getByRole('button', { name: 'Run' }).click();
      await page.locator('table.hunt-results tbody tr').first().waitFor();
      measured.hunt_rows = await page.locator('table.hunt-results tbody tr').count();
      await shot(page, 'hunt');
      await page.getByLabel('Case number').fill(caseNumber);
      await page.getByLabel('Title').fill('Failed logons by source');
      await page.getByRole('button', { name: 'Attach the rows as evidence' }).click();
      await page.waitForURL(new RegExp(`/cases/${caseNumber}\\?done=evidence`));
      await page.locator('.notice', { hasText: 'attached as evidence' }).waitFor();
    });

    await step('work the case: a note, an observable, a timeline entry, tasks done, moved along', async () => {
      await page.goto(`${url}/cases/${caseNumber}`);
      await page.getByLabel('Add a note').fill('Source 203.0.113.9 tried 40 accounts in ten minutes.');
      await page.getByRole('button', { name: 'Add note' }).click();
      await page.locator('.notice', { hasText: 'Note added' }).waitFor();
      await page.locator('#ob-kind').fill('ip-src');
      await page.locator('#ob-value').fill('203.0.113.9');
      await page.locator('form', { has: page.locator('#ob-kind') }).getByRole('button').click();
      await page.locator('.notice', { hasText: 'Observable added' }).waitFor();
      await page.locator('#nt-title').fill('Block the source at the VPN');
      await page.getByRole('button', { name: 'Add task' }).click();
      await page.locator('.notice', { hasText: 'Task saved' }).waitFor();
      // Every task done, one at a time (each save reloads the page).
      const forms = page.locator('table.tasks form');
      const tasks = await forms.count();
      check(tasks >= 1, 'no task on the case');
      for (let i = 0; i < tasks; i++) {
        const form = forms.nth(i);
        const status = await form.locator('select').inputValue();
        if (status === 'done' || status === 'cancelled') continue;
        await form.locator('select').selectOption('done');
        await form.getByRole('button', { name: 'Save' }).click();
        await page.locator('.notice', { hasText: 'Task saved' }).waitFor();
      }
      for (const state of ['triage', 'in_progress']) {
        const move = page.getByRole('button', { name: `Move to ${state}` });
        if (await move.count()) {
          await move.click();
          await page.locator('.notice', { hasText: 'The case moved on' }).waitFor();
        }
      }
      await shot(page, 'case');
    });

    await step('download the case report', async () => {
      const waiting = page.waitForEvent('download');
      await page.getByRole('link', { name: 'HTML', exact: true }).click();
      const download = await waiting;
      measured.report = download.suggestedFilename();
      check(measured.report === `case-${caseNumber}.html`, `the report is named ${measured.report}`);
    });

    await step('close the case with what closing needs', async () => {
      await page.getByLabel('Resolution').selectOption('true_positive_without_impact');
      await page.getByLabel('Root cause').fill('A VPN account without MFA was guessable.');
      await page.getByLabel('Lessons learned').fill('MFA on every VPN account; alert on spraying sooner.');
      await page.getByRole('button', { name: 'Close the case' }).click();
      await page.locator('.notice', { hasText: 'The case is closed' }).waitFor();
    });

    await step('see the audit entries', async () => {
      await page.goto(`${url}/admin/audit?action=hunt.run`);
      const runs = await page.locator('table.audit tbody tr').count();
      check(runs >= 2, `${runs} hunt runs in the audit log`);
      await page.goto(`${url}/admin/audit?verify=1`);
      await page.locator('.notice', { hasText: 'is intact' }).waitFor();
      measured.audit_rows_shown = await page.locator('table.audit tbody tr').count();
    });

    await step('a response another user requested: its exact request read, then approved', async () => {
      await page.goto(`${url}/responses?state=awaiting_approval`);
      await page.locator(`tr[data-run="${responseRun}"]`).getByRole('link', { name: 'decide' }).click();
      await page.waitForURL(new RegExp(`/responses/${responseRun}$`));
      const request = await page.locator('pre[data-request]').innerText();
      check(request.includes('svc-backup'), `the request shown: ${request}`);
      await page.getByLabel('Note').fill('owner confirmed by phone');
      await page.getByRole('button', { name: 'Approve' }).click();
      await page.locator('.notice', { hasText: 'Approved' }).waitFor();
      check((await page.locator('button', { hasText: 'Approve' }).count()) === 0, 'no second decision');
    });

    check(scriptErrors.length === 0, `script errors in the page: ${scriptErrors.join('; ')}`);
  } finally {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }

  await step('without JavaScript: sign in, filter, bulk-acknowledge through the forms', async () => {
    const { context: plain, dir: plainDir } = await open(false);
    try {
      const p = plain.pages()[0] || (await plain.newPage());
      await signIn(p);
      await p.getByLabel('Status', { exact: true }).selectOption('open');
      await p.locator('#f-rule').fill(kbRule);
      await p.getByRole('button', { name: 'Apply' }).first().click();
      await p.waitForURL(/rule=/);
      const first = p.locator('table[data-queue] tr[data-alert]').first();
      await first.locator('input[type=checkbox]').check();
      await p.locator('fieldset.bulk').getByLabel('Action').selectOption('acknowledge');
      await p.locator('fieldset.bulk').getByRole('button', { name: 'Apply' }).click();
      await p.locator('.notice', { hasText: '1 alert acknowledged' }).waitFor();
    } finally {
      await plain.close();
      rmSync(plainDir, { recursive: true, force: true });
    }
  });

  process.stdout.write(`${JSON.stringify(measured)}\n`);
}

main().catch((e) => {
  process.stderr.write(`FAILED at "${current}": ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
