// Pausing a playbook from the web UI: playwright-core driving Debian's
// /usr/bin/chromium headless. Run by tests/integration/test_ui_pause.py,
// which starts clerkd with a supervisor and a reviewer and passes:
//   CLERK_URL, CLERK_TOKEN        the daemon and its API token
//   CLERK_SUPERVISOR/_PASSWORD    a supervisor's sign-in
//   CLERK_REVIEWER/_PASSWORD      a reviewer's sign-in
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
const SHOTS = process.env.CLERK_SHOTS || '/tmp';
const REASON = '银行接口维护 bank interface maintenance';

let browser, sup, rev;
const problems = [];

async function api(method, path, body) {
	const r = await fetch(`${BASE}/api/v1${path}`, {
		method,
		headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	return { status: r.status, body: await r.json().catch(() => null) };
}

async function until(what, fn, ms = 15000) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		const v = await fn();
		if (v)
			return v;
		await new Promise((res) => setTimeout(res, 100));
	}
	throw new Error(`timed out waiting for ${what}`);
}

async function playbook(name) {
	const r = await api('GET', '/playbooks');
	assert.equal(r.status, 200);
	return r.body.playbooks.find((p) => p.name === name);
}

async function itemState(id) {
	return (await api('GET', `/items/${id}`)).body.state;
}

async function signIn(user, pass) {
	const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'zh-CN' });
	const p = await ctx.newPage();
	p.setDefaultTimeout(10000);
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
	await p.waitForSelector('#view-playbooks:not([hidden]) #pb-body tr[data-name="slow"]');
	return p;
}

const row = (name) => `#pb-body tr[data-name="${name}"]`;

async function shot(p, name) {
	await p.screenshot({ path: `${SHOTS}/clerk-${name}.png`, fullPage: true });
}

before(async () => {
	assert.ok(BASE && TOKEN && SUP && REV, 'CLERK_URL, CLERK_TOKEN and the two users are set');
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

test('a supervisor sees every playbook running, with a Pause button each', async () => {
	const names = await sup.$$eval('#pb-body tr', (trs) => trs.map((tr) => tr.dataset.name));
	assert.deepEqual(names.sort(), ['other', 'slow']);
	assert.match(await sup.textContent(`${row('slow')} .pb-state`), /running/);
	assert.equal(await sup.isVisible('#pb-act-head'), true, 'the Action column is there');
	assert.equal(await sup.$$eval('#pb-body .pb-pause', (b) => b.length), 2);
});

test('Pause asks to confirm first; Cancel changes nothing', async () => {
	await sup.click(`${row('slow')} .pb-pause`);
	await sup.waitForSelector(`${row('slow')} .pb-confirm .pb-confirm-btn`);
	await sup.click(`${row('slow')} .pb-cancel`);
	await sup.waitForSelector(`${row('slow')} .pb-pause`);
	assert.equal((await playbook('slow')).paused, false, 'not paused by the first click');
});

test('the supervisor pauses a playbook with a reason and sees it paused', async () => {
	await sup.click(`${row('slow')} .pb-pause`);
	await sup.fill(`${row('slow')} .pb-reason-input`, REASON);
	await sup.click(`${row('slow')} .pb-confirm-btn`);
	await sup.waitForSelector(`${row('slow')}.paused .badge.paused`);
	assert.match(await sup.textContent(`${row('slow')} .pb-paused-by`), new RegExp(`^${SUP} · `));
	assert.equal(await sup.textContent(`${row('slow')} .pb-reason`), REASON);
	assert.equal(await sup.isVisible(`${row('slow')} .pb-resume`), true, 'it offers Resume now');
	assert.match(await sup.textContent(`${row('other')} .pb-state`), /running/, 'the other one still runs');
	const p = await playbook('slow');
	assert.equal(p.paused, true);
	assert.equal(p.paused_by, SUP, 'the pause is the signed-in supervisor\'s');
	assert.equal(p.pause_reason, REASON);
	const audit = await api('GET', '/audit?limit=1000');
	const rows = audit.body.audit || [];
	assert.ok(rows.some((a) => a.action === 'pause' && a.actor === SUP && a.target === 'playbook:slow'),
	    `an audit row: ${JSON.stringify(rows.slice(-3))}`);
	await shot(sup, 'playbooks-paused');
});

test('while paused, a new item of it waits in the queue; the other playbook runs', async () => {
	const a = await api('POST', '/playbooks/slow/run', { key: 'ui-1' });
	assert.equal(a.status, 201, JSON.stringify(a.body));
	const b = await api('POST', '/playbooks/other/run', { key: 'ui-2' });
	assert.equal(b.status, 201);
	await until('the other playbook\'s item done', async () => (await itemState(b.body.item)) === 'done');
	assert.equal(await itemState(a.body.item), 'queued', 'the paused playbook\'s item is not claimed');
	process.env.PAUSED_ITEM = String(a.body.item);
});

test('a reviewer sees it paused but is offered no Pause or Resume', async () => {
	await rev.click('#pb-refresh');
	await rev.waitForSelector(`${row('slow')}.paused .badge.paused`);
	assert.equal(await rev.textContent(`${row('slow')} .pb-reason`), REASON);
	assert.equal(await rev.$$eval('#pb-body button', (b) => b.length), 0, 'no buttons at all');
	assert.equal(await rev.isVisible('#pb-act-head'), false, 'no Action column');
	await shot(rev, 'playbooks-reviewer');
});

test('the supervisor resumes it (confirmed) and its item runs', async () => {
	await sup.click(`${row('slow')} .pb-resume`);
	await sup.waitForSelector(`${row('slow')} .pb-confirm-btn`);
	assert.equal((await playbook('slow')).paused, true, 'still paused until confirmed');
	await sup.click(`${row('slow')} .pb-confirm-btn`);
	await sup.waitForSelector(`${row('slow')}:not(.paused) .pb-pause`);
	assert.match(await sup.textContent(`${row('slow')} .pb-state`), /running/);
	assert.equal((await playbook('slow')).paused, false);
	const id = Number(process.env.PAUSED_ITEM);
	await until('the waiting item done', async () => (await itemState(id)) === 'done');
});

test('a pause someone else made meanwhile is reported, not hidden', async () => {
	await sup.click(`${row('other')} .pb-pause`);
	const r = await api('POST', '/playbooks/other/pause', { reason: 'from the API', by: 'carol' });
	assert.equal(r.status, 200);
	await sup.click(`${row('other')} .pb-confirm-btn`);
	await sup.waitForSelector(`${row('other')} .pb-error:not([hidden])`);
	assert.match(await sup.textContent(`${row('other')} .pb-error`), /already paused \(by carol/);
	await sup.waitForSelector(`${row('other')}.paused .pb-resume`);
	assert.equal(await sup.textContent(`${row('other')} .pb-reason`), 'from the API');
	const back = await api('POST', '/playbooks/other/resume', { by: 'carol' });
	assert.equal(back.status, 200);
});

test('no CSP violation or page error', () => {
	assert.deepEqual(problems, []);
});
