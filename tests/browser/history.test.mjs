// A playbook's run history and one item's timeline in the web UI:
// playwright-core driving Debian's /usr/bin/chromium headless. Run by
// tests/integration/test_ui_history.py, which starts clerkd with a
// supervisor, a reviewer and the playbook "intake" with items of known
// outcomes, and passes:
//   CLERK_URL, CLERK_TOKEN        the daemon and its API token
//   CLERK_SUPERVISOR/_PASSWORD    a supervisor's sign-in
//   CLERK_REVIEWER/_PASSWORD      a reviewer's sign-in
//   CLERK_AUDITOR/_PASSWORD       an auditor's sign-in
//   CLERK_EXPECT                  JSON: buckets {index: {state: n}} of the
//                                 24 h window, the cron hour, the ids of the
//                                 late (retried) and bad (escalated) items,
//                                 the escalation's id, the slow send's ms
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
const AUD = process.env.CLERK_AUDITOR;
const AUD_PW = process.env.CLERK_AUDITOR_PASSWORD;
const ID_NUMBER = '110101199003071234';
const SHOTS = process.env.CLERK_SHOTS || '/tmp';
const X = JSON.parse(process.env.CLERK_EXPECT || '{}');

let browser, sup, rev, aud;
const problems = [];
let allow404 = false;   /* the browser's own line for a 404 that is expected */
const historyRequests = { sup: 0, rev: 0, aud: 0 };

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

async function signIn(who, user, pass) {
	const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN',
	    timezoneId: 'Asia/Shanghai' });
	const p = await ctx.newPage();
	p.setDefaultTimeout(10000);
	p.on('console', (m) => {
		/* Any console error, not only CSP's: a refused read must be a
		 * message on the page, not an error in the console. */
		if (allow404 && /Failed to load resource: .* 404/.test(m.text()))
			return;
		if (m.type() === 'error' || /Content Security Policy|Refused to (execute|apply|load)/i.test(m.text()))
			problems.push(`${who} console: ${m.text()}`);
	});
	p.on('pageerror', (e) => problems.push(`${who} page error: ${e.message}`));
	p.on('request', (r) => {
		if (/\/api\/v1\/playbooks\/[^/]+\/history/.test(r.url()))
			historyRequests[who]++;
	});
	await p.goto(`${BASE}/`);
	await p.waitForSelector('#view-login:not([hidden])');
	await p.fill('#login-user', user);
	await p.fill('#login-password', pass);
	await p.click('#login-submit');
	await p.waitForSelector('#view-queue:not([hidden])');
	return p;
}

async function shot(p, name) {
	await p.screenshot({ path: `${SHOTS}/clerk-${name}.png` });
}

/* {bucket: {state: n}} as the bars draw them. */
async function bars(p) {
	return p.$$eval('#h-svg g.bucket', (gs) => {
		const out = {};
		for (const g of gs)
			for (const r of g.querySelectorAll('rect.seg')) {
				const b = (out[g.dataset.bucket] = out[g.dataset.bucket] || {});
				b[r.dataset.state] = (b[r.dataset.state] || 0) + Number(r.dataset.n);
			}
		return out;
	});
}

before(async () => {
	assert.ok(BASE && TOKEN && SUP && REV && X.late, 'CLERK_URL, CLERK_TOKEN, the users and CLERK_EXPECT are set');
	browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run'],
	});
	sup = await signIn('sup', SUP, SUP_PW);
	rev = await signIn('rev', REV, REV_PW);
	aud = await signIn('aud', AUD, AUD_PW);
});

after(async () => {
	if (browser)
		await browser.close();
});

test('a supervisor opens a playbook\'s history from the Playbooks view', async () => {
	await sup.click('#nav-playbooks');
	await sup.waitForSelector('#pb-body tr[data-name="intake"] a.pb-history');
	await sup.click('#pb-body tr[data-name="intake"] a.pb-history');
	await sup.waitForSelector('#view-history:not([hidden]) #h-body:not([hidden])');
	assert.equal(await sup.evaluate(() => location.hash), '#/p/intake');
	assert.match(await sup.textContent('#h-title'), /intake/);
	assert.equal(await sup.textContent('#h-trigger .h-trigger-text'), `cron 0 ${X.hour} * * *`);
	const next = await sup.$$eval('#h-next li', (li) => li.map((x) => x.textContent));
	assert.equal(next.length, 10, 'the next ten runs');
	const hh = String(X.hour).padStart(2, '0');
	assert.ok(next.every((x) => x.endsWith(` ${hh}:00`)), `each at ${hh}:00: ${next}`);
});

test('the bars count the items per bucket and state', async () => {
	assert.equal(await sup.$$eval('#h-svg g.bucket', (g) => g.length), 24, '24 hourly bars');
	assert.deepEqual(await bars(sup), X.buckets);
	const legend = await sup.$$eval('#h-legend li', (li) => Object.fromEntries(li.map((x) =>
	    [x.dataset.state, Number(x.querySelector('b').textContent)])));
	assert.equal(legend.done, 7);
	assert.equal(legend.escalated, 1);
	const tip = await sup.textContent('#h-svg g.bucket[data-bucket="16"] rect.st-escalated title');
	assert.match(tip, /escalated 1$/);
});

test('the failure and escalation rates, with their counts', async () => {
	assert.equal(await sup.textContent('#h-tiles .t-items .big'), '8');
	assert.equal(await sup.textContent('#h-tiles .t-failed .big'), '25.0%');
	assert.match(await sup.textContent('#h-tiles .t-failed .muted'), /2 \/ 8 .*共 2 次/);
	assert.equal(await sup.textContent('#h-tiles .t-escalated .big'), '12.5%');
	assert.match(await sup.textContent('#h-tiles .t-escalated .muted'), /1 \/ 8/);
	assert.equal(await sup.textContent('#h-tiles .t-open .big'), '1');
});

test('the steps slowest first, failures and escalations by step and reason', async () => {
	const steps = await sup.$$eval('#h-steps-table tbody tr', (tr) => tr.map((r) =>
	    [...r.cells].slice(0, 5).map((c) => c.textContent)));
	assert.deepEqual(steps.map((s) => s[0]), ['wait', 'send', 'check'], 'the sleeping step first');
	assert.equal(steps[0][1], '7', 'it ran once per finished item');
	assert.match(steps[0][2], /^2\d\d ms$/, `its median is the 250 ms slept: ${steps[0]}`);
	assert.match(steps[1][4], /^(7\d\d ms|\d\.\d\d s)$/, `the send's max is the slow answer: ${steps[1]}`);
	const fails = await sup.$$eval('#h-failures-table tbody tr', (tr) => tr.map((r) =>
	    [r.dataset.step, r.dataset.reason, r.cells[2].textContent]));
	assert.deepEqual(fails.sort(), [['check', 'invalid_field', '1'], ['send', 'retry', '1']]);
	const escs = await sup.$$eval('#h-escalations-table tbody tr', (tr) => tr.map((r) =>
	    [r.dataset.step, r.dataset.reason, r.cells[2].textContent, r.cells[3].textContent]));
	assert.deepEqual(escs, [['check', 'invalid_field', '1', '1']]);
	const slow = await sup.$$eval('#h-slowest-table tbody tr', (tr) => tr.map((r) =>
	    [Number(r.dataset.item), r.cells[1].textContent]));
	assert.equal(slow.length, 10);
	assert.deepEqual(slow[0], [X.late, 'send'], 'the slow send is the slowest run');
	await shot(sup, 'history');
});

test('the window selector redraws 7 and 30 days', async () => {
	await sup.click('#view-history .h-win[data-w="7d"]');
	await sup.waitForFunction(() => document.querySelectorAll('#h-svg g.bucket').length === 28);
	assert.equal(await sup.evaluate(() => location.hash), '#/p/intake?w=7d');
	assert.equal(await sup.textContent('#h-tiles .t-items .big'), '8');
	let b = await bars(sup);
	assert.equal(Object.values(b).reduce((a, x) => a + (x.done || 0), 0), 7);
	await sup.click('#view-history .h-win[data-w="30d"]');
	await sup.waitForFunction(() => document.querySelectorAll('#h-svg g.bucket').length === 30);
	b = await bars(sup);
	assert.deepEqual(b, { 29: { done: 7, escalated: 1 } }, 'one day holds them all');
	await sup.click('#view-history .h-win[data-w="24h"]');
	await sup.waitForFunction(() => document.querySelectorAll('#h-svg g.bucket').length === 24);
});

test('a playbook that is not loaded is said so on the page', async () => {
	allow404 = true;
	try {
		await sup.evaluate(() => { location.hash = '#/p/nosuch'; });
		await sup.waitForSelector('#view-history:not([hidden]) #h-notice:not([hidden]):has-text("nosuch")');
		assert.match(await sup.textContent('#h-notice'), /no playbook "nosuch" is loaded/);
		assert.equal(await sup.isVisible('#h-body'), false);
	} finally {
		allow404 = false;
	}
	await sup.evaluate(() => { location.hash = '#/p/intake'; });
	await sup.waitForSelector('#view-history:not([hidden]) #h-body:not([hidden])');
});

test('the slowest run opens its item\'s timeline: steps, durations, the failed attempt', async () => {
	await sup.click('#h-slowest-table tbody tr:first-child a.item-link');
	await sup.waitForSelector('#view-item:not([hidden]) #i-body:not([hidden])');
	assert.equal(await sup.evaluate(() => location.hash), `#/i/${X.late}`);
	assert.match(await sup.textContent('#i-title'), new RegExp(`#${X.late} · intake`));
	assert.equal(await sup.textContent('#i-state'), 'done');
	const rows = await sup.$$eval('#i-timeline > li', (li) => li.map((x) => ({
		kind: x.className.replace('tl ', ''), step: x.dataset.step || null,
		ms: (x.querySelector('.tl-ms') || {}).textContent || null, text: x.textContent })));
	assert.deepEqual(rows.map((r) => `${r.kind}:${r.step || ''}`),
	    ['created:', 'step:check', 'step:wait', 'failure:send', 'step:send'],
	    'queued, the steps in order, the failed attempt before the send that worked');
	for (const r of rows.filter((x) => x.kind === 'step'))
		assert.match(r.ms, /^\d+ ms$|^\d+\.\d+ s$/, `a duration for ${r.step}: ${r.ms}`);
	assert.match(rows[2].ms, /^2\d\d ms$/, 'the wait took its 250 ms');
	assert.ok(Number.parseFloat(rows[4].ms) >= (rows[4].ms.endsWith(' s') ? X.slow_ms / 1000 : X.slow_ms),
	    `the send took the slow answer: ${rows[4].ms}`);
	assert.match(rows[3].text, /attempt 1 failed/);
	assert.match(rows[3].text, /server error/, 'the error of the failed attempt');
	assert.match(rows[3].text, /retried/);
	assert.match(await sup.getAttribute('#i-back', 'href'), /^#\/p\/intake$/, 'back to its playbook\'s history');
	await sup.click('#i-back');
	await sup.waitForSelector('#view-history:not([hidden]) #h-body:not([hidden])');
});

test('a reviewer sees no history link, and a direct link says it needs a supervisor', async () => {
	await rev.click('#nav-playbooks');
	await rev.waitForSelector('#pb-body tr[data-name="intake"]');
	assert.equal(await rev.$$eval('#pb-body a.pb-history', (a) => a.length), 0, 'no history link');
	await rev.evaluate(() => { location.hash = '#/p/intake'; });
	await rev.waitForSelector('#view-history:not([hidden]) #h-notice:not([hidden])');
	assert.match(await rev.textContent('#h-notice'), /needs a supervisor/);
	assert.equal(await rev.isVisible('#h-body'), false, 'no history drawn');
	assert.equal(historyRequests.rev, 0, 'and no request the server would refuse with 403');
	assert.ok(historyRequests.sup > 0);
});

test('a reviewer reaches an escalated item\'s timeline from the escalation, with the evidence', async () => {
	await rev.evaluate((id) => { location.hash = `#/e/${id}`; }, X.escalation);
	await rev.waitForSelector('#view-detail:not([hidden]) a.item-timeline');
	await rev.click('a.item-timeline');
	await rev.waitForSelector('#view-item:not([hidden]) #i-body:not([hidden])');
	assert.equal(await rev.evaluate(() => location.hash), `#/i/${X.bad}`);
	const esc = await rev.textContent(`#i-timeline li.escalation[data-escalation="${X.escalation}"]`);
	assert.match(esc, /invalid_field/);
	assert.match(esc, /name: empty/, 'the message');
	assert.match(await rev.textContent('#i-timeline li.escalation .tl-evidence'), /invalid/, 'the evidence');
	assert.match(await rev.textContent('#i-timeline li.failure'), /business error/);
	assert.match(await rev.textContent('#i-timeline li.pending'), /check → wait → send/, 'the steps still to run');
	assert.equal(await rev.$$eval('#i-history', (a) => a.length), 0, 'no history link for a reviewer');
	assert.equal(await rev.getAttribute('#i-back', 'href'), '#/playbooks');
	/* The claim the escalation view took was given back on leaving it. */
	const e = await until('the claim released', async () => {
		const r = await api('GET', `/escalations/${X.escalation}`);
		return r.body.claimed_by ? null : r.body;
	});
	assert.equal(e.state, 'open');
});

test('after the reviewer\'s decision the timeline shows who decided and the steps that followed', async () => {
	await rev.evaluate((id) => { location.hash = `#/e/${id}`; }, X.escalation);
	await rev.waitForSelector('#d-claim.mine');
	await rev.click('#act-approve');
	await until('the approved item done', async () => (await api('GET', `/items/${X.bad}`)).body.state === 'done');
	await sup.evaluate((id) => { location.hash = `#/i/${id}`; }, X.bad);
	await sup.waitForFunction((id) => location.hash === `#/i/${id}` &&
	    !document.querySelector('#i-body').hidden && document.querySelector('#i-state').textContent === 'done', X.bad);
	const rows = await sup.$$eval('#i-timeline > li', (li) => li.map((x) => `${x.className.replace('tl ', '')}:${x.dataset.step || ''}`));
	assert.deepEqual(rows, ['created:', 'failure:check', 'escalation:', 'decision:', 'step:check', 'step:wait', 'step:send']);
	const dec = await sup.textContent('#i-timeline li.decision');
	assert.match(dec, /approved/);
	assert.match(dec, new RegExp(`· ${REV}`), 'who decided');
	assert.match(await sup.textContent('#i-timeline li.escalation .tl-evidence'), /invalid/, 'the evidence');
	await shot(sup, 'item-timeline');
});

test('an auditor: no history link, and an item\'s timeline with the personal data masked', async () => {
	await aud.click('#nav-playbooks');
	await aud.waitForSelector('#pb-body tr[data-name="intake"]');
	assert.equal(await aud.$$eval('#pb-body a.pb-history', (a) => a.length), 0);
	await aud.evaluate(() => { location.hash = '#/p/intake'; });
	await aud.waitForSelector('#view-history:not([hidden]) #h-notice:not([hidden])');
	assert.match(await aud.textContent('#h-notice'), /needs a supervisor/);
	assert.equal(historyRequests.aud, 0);
	await aud.evaluate((id) => { location.hash = `#/i/${id}`; }, X.late);
	await aud.waitForSelector('#view-item:not([hidden]) #i-body:not([hidden])');
	await aud.click('#i-payload-box summary');
	const shown = await aud.textContent('#i-payload');
	assert.match(shown, /110101\*{8}1234/, `masked as the API sends it: ${shown}`);
	assert.ok(!shown.includes(ID_NUMBER), 'never in full');
	await sup.evaluate((id) => { location.hash = `#/i/${id}`; }, X.late);
	await sup.waitForFunction((id) => location.hash === `#/i/${id}` && !document.querySelector('#i-body').hidden, X.late);
	await sup.click('#i-payload-box summary');
	assert.match(await sup.textContent('#i-payload'), new RegExp(ID_NUMBER), 'a supervisor sees it in full');
});

test('no console error, CSP violation or page error', () => {
	assert.deepEqual(problems, []);
});
