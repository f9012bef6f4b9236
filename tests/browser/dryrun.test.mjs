// The dry-run view from the web UI: playwright-core driving Debian's
// /usr/bin/chromium headless. Run by tests/integration/test_ui_dryrun.py,
// which starts clerkd with the unemployment-claim playbook, a supervisor
// and a reviewer, renders claim forms and passes:
//   CLERK_URL, CLERK_TOKEN        the daemon and its API token
//   CLERK_SUPERVISOR/_PASSWORD    a supervisor's sign-in
//   CLERK_REVIEWER/_PASSWORD      a reviewer's sign-in
//   CLERK_SAMPLE, CLERK_SAMPLE_ID a rendered good form and its ID number
//   CLERK_BLURRED, _FIELDS        a form too blurred to read, and what
//                                 it says (the reviewer's corrections)
//   CHROMIUM, CLERK_SHOTS         (where screenshots go, default /tmp)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.CLERK_URL;
const TOKEN = process.env.CLERK_TOKEN;
const SUP = process.env.CLERK_SUPERVISOR;
const SUP_PW = process.env.CLERK_SUPERVISOR_PASSWORD;
const REV = process.env.CLERK_REVIEWER;
const REV_PW = process.env.CLERK_REVIEWER_PASSWORD;
const SAMPLE = process.env.CLERK_SAMPLE;
const SAMPLE_ID = process.env.CLERK_SAMPLE_ID;
const BLURRED = process.env.CLERK_BLURRED;
const BLURRED_FIELDS = JSON.parse(process.env.CLERK_BLURRED_FIELDS || '{}');
const SHOTS = process.env.CLERK_SHOTS || '/tmp';
const PB = 'unemployment-claim';

let browser, sup, rev;
const problems = [];

async function api(method, path) {
	const r = await fetch(`${BASE}/api/v1${path}`, {
		method, headers: { Authorization: `Bearer ${TOKEN}` },
	});
	return { status: r.status, body: await r.json().catch(() => null) };
}

/* Waits for the run to end (the status line clears) and names what is on
 * screen when it did not. */
async function runTest(p, want) {
	await p.click('#t-run');
	try {
		await p.waitForFunction((re) => new RegExp(re).test(document.querySelector('#t-outcome').textContent) &&
		    document.querySelector('#t-status').textContent === '', want.source, { timeout: 60000 });
	} catch (e) {
		const seen = await p.evaluate(() => ['#t-outcome', '#t-status', '#t-error']
		    .map((s) => `${s}: ${document.querySelector(s).textContent}`).join('; '));
		throw new Error(`${e.message}; on screen: ${seen}`);
	}
}

async function signIn(user, pass) {
	const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'zh-CN' });
	const p = await ctx.newPage();
	p.setDefaultTimeout(15000);
	p.on('console', (m) => {
		if (/Content Security Policy|Refused to (execute|apply|load)/i.test(m.text()))
			problems.push(`console: ${m.text()}`);
	});
	p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	await p.goto(`${BASE}/`);
	await p.waitForSelector('#view-login:not([hidden])');
	await p.fill('#login-user', user);
	await p.fill('#login-password', pass);
	await p.click('#login-submit');
	await p.waitForSelector('#view-queue:not([hidden])');
	await p.click('#nav-playbooks');
	await p.waitForSelector(`#view-playbooks:not([hidden]) #pb-body tr[data-name="${PB}"]`);
	return p;
}

const stepRow = (id) => `#t-body tr[data-step="${id}"]`;

before(async () => {
	assert.ok(BASE && TOKEN && SUP && REV && SAMPLE && BLURRED, 'the daemon, users and samples are set');
	browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run'],
	});
	sup = await signIn(SUP, SUP_PW);
	rev = await signIn(REV, REV_PW);
});

after(async () => {
	if (browser)
		await browser.close();
});

test('the Playbooks view offers a supervisor a Test link to the dry-run view', async () => {
	await sup.click(`#pb-body tr[data-name="${PB}"] .pb-test`);
	await sup.waitForSelector('#view-test:not([hidden])');
	assert.equal(new URL(sup.url()).hash, `#/test/${PB}`);
	assert.equal(await sup.textContent('#t-name'), PB);
});

test('a supervisor uploads a sample and sees the steps in order, the submit stubbed', async () => {
	await sup.setInputFiles('#t-file', SAMPLE);
	await runTest(sup, /^done/);
	const steps = await sup.$$eval('#t-body tr', (trs) => trs.map((tr) => tr.dataset.step));
	assert.deepEqual(steps, ['check', 'submit']);
	assert.equal(await sup.textContent(`${stepRow('check')} .t-decision .badge`), 'ok');
	assert.match(await sup.textContent(`${stepRow('check')} .t-output`), new RegExp(SAMPLE_ID));
	assert.match(await sup.textContent(`${stepRow('check')} .t-output details[data-key="values"][open]`),
	    new RegExp(SAMPLE_ID), 'the values read are shown open, the rest folded');
	assert.equal(await sup.textContent(`${stepRow('submit')} .t-decision .badge`), 'stubbed');
	assert.match(await sup.textContent(`${stepRow('submit')} .t-notes`), /not run: .*legacy system/);
	assert.match(await sup.textContent(`${stepRow('submit')} .t-input`), new RegExp(SAMPLE_ID),
	    'the stubbed step shows the ID number it would send');
	assert.match(await sup.textContent('#t-outcome'), /done \(with stubbed steps\)/);
	await sup.screenshot({ path: `${SHOTS}/clerk-dryrun.png`, fullPage: true });
	const items = await api('GET', '/items');
	assert.deepEqual(items.body.items, [], 'nothing was queued');
});

test('a blurred form shows its escalation; approved with corrections, the submit shows them', async () => {
	await sup.setInputFiles('#t-file', BLURRED);
	await runTest(sup, /^escalated$/);
	assert.equal(await sup.textContent(`${stepRow('check')} .t-decision .badge`), 'escalate');
	assert.match(await sup.textContent(`${stepRow('check')} .t-notes`), /quality\./);
	await sup.fill('#t-approve', JSON.stringify({ fields: BLURRED_FIELDS }));
	await runTest(sup, /^done/);
	assert.match(await sup.textContent(`${stepRow('check')} .t-notes`), /approved/);
	const input = await sup.textContent(`${stepRow('submit')} .t-input`);
	assert.ok(input.includes(BLURRED_FIELDS.id_no) && input.includes(BLURRED_FIELDS.name),
	    'the stubbed submit shows the corrected name and ID number');
});

test('bad JSON and a playbook text that does not load are shown, with file:line', async () => {
	await sup.fill('#t-approve', '');
	await sup.fill('#t-payload', '{not json');
	await sup.click('#t-run');
	await sup.waitForSelector('#t-error:not([hidden])');
	assert.match(await sup.textContent('#t-error'), /not JSON/);
	await sup.fill('#t-payload', '');
	await sup.click('#t-text-box summary');
	await sup.fill('#t-text', `name = "${PB}";\ntrigger = { manual = true; };\nsteps = (\n  { id = "a"; use = "nosuch"; }\n);\n`);
	await sup.click('#t-run');
	await sup.waitForFunction(() => /playbook_text:4:/.test(document.querySelector('#t-error').textContent));
});

test('a reviewer has no Test link, and the view refuses a dry run', async () => {
	assert.equal(await rev.$$eval('#pb-body .pb-test', (a) => a.length), 0);
	await rev.goto(`${BASE}/#/test/${PB}`);
	await rev.waitForSelector('#view-test:not([hidden])');
	assert.equal(await rev.isDisabled('#t-run'), true);
	assert.match(await rev.textContent('#t-error'), /supervisor/);
});

test('no page error and nothing refused by the Content-Security-Policy', () => {
	assert.deepEqual(problems, []);
});
