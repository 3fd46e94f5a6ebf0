// The dashboard walked in a real headless Chromium (run by tests/dashboard_e2e.rs).
// Env: DASHBOARD_URL, GATEWAY_URL, MODEL, CHROMIUM_PATH, SCREENSHOT_DIR.
// Signs up, creates a team, mints a key and copies it, calls /v1/chat/completions with it,
// sets a team budget with an 80 % alert, waits for the spend and the request in Usage and
// Logs, buys credits through the local Stripe server's hosted checkout and sees the balance,
// screenshots every page at desktop and phone widths, and exits non-zero on any failed
// step, CSP violation, console error or uncaught page error.
import { chromium } from "playwright-core";
import path from "node:path";

const base = process.env.DASHBOARD_URL;
const gateway = process.env.GATEWAY_URL ?? base;
const model = process.env.MODEL ?? "gpt-e2e";
const providerUrl = process.env.PROVIDER_URL;
const shots = process.env.SCREENSHOT_DIR ?? "target/screenshots";
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!base) throw new Error("DASHBOARD_URL is required");

const problems = [];
const step = (name) => console.log(`· ${name}`);

function watch(page, label) {
  page.on("console", (msg) => {
    if (msg.type() === "error") {
      problems.push(`${label}: console error at ${page.url()}: ${msg.text().slice(0, 160)}`);
    }
  });
  page.on("pageerror", (err) => problems.push(`${label}: page error: ${err.message}`));
  page.on("response", (res) => {
    if (res.status() >= 400) problems.push(`${label}: ${res.status()} from ${res.url()}`);
  });
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
await desktop.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
// Records CSP violations in every document (init scripts are exempt from the page's CSP).
await desktop.addInitScript(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
  });
});
const page = await desktop.newPage();
watch(page, "desktop");

async function expectText(selector, text, timeout = 10_000) {
  await page.locator(selector).filter({ hasText: text }).first().waitFor({ timeout });
}

/// Reloads `url` until `selector` contains `text` (usage and logs are written asynchronously).
async function pollFor(url, selector, text, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    await page.goto(url);
    const content = await page.locator(selector).first().textContent().catch(() => null);
    if (content && content.includes(text)) return content;
    if (Date.now() > deadline) {
      throw new Error(`${url}: ${selector} never showed "${text}" (last: ${content})`);
    }
    await page.waitForTimeout(500);
  }
}

let exitCode = 0;
try {
  step("sign up");
  await page.goto(`${base}/signup`);
  await page.getByLabel("Organisation name").fill("E2E Labs");
  await page.getByLabel("Email").fill("owner@e2e.example");
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Create organisation" }).click();
  await page.waitForURL(`${base}/app`);
  await expectText("h2", "Get started");
  await page.screenshot({ path: path.join(shots, "overview-empty-desktop.png"), fullPage: true });

  step("create a team");
  await page.getByRole("link", { name: "Teams", exact: true }).click();
  await page.waitForURL(`${base}/app/teams`);
  await page.getByLabel("New team").fill("research");
  await page.getByRole("button", { name: "Create team" }).click();
  await expectText("h3", "research");

  step("mint a key and copy it");
  await page.getByRole("link", { name: "Keys", exact: true }).click();
  await page.waitForURL(`${base}/app/keys`);
  await page.getByLabel("Name", { exact: true }).fill("e2e");
  await page.getByLabel("Team", { exact: true }).selectOption("research");
  await page.getByRole("button", { name: "Mint key" }).click();
  const secretEl = page.locator("#new-key-secret");
  await secretEl.waitFor();
  const shown = (await secretEl.textContent()).trim();
  await page.locator("#copy-key").click();
  await expectText("#copy-key", "Copied");
  let key = await page.evaluate(() => navigator.clipboard.readText()).catch(() => "");
  if (key.trim() !== shown) {
    throw new Error(`the clipboard holds "${key}", the page shows "${shown}"`);
  }
  key = key.trim();
  if (!key.startsWith("sy_")) throw new Error(`unexpected key format: ${key}`);
  await page.screenshot({ path: path.join(shots, "keys-minted-desktop.png"), fullPage: true });

  step("call /v1/chat/completions with the copied key");
  let answer;
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${gateway}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hello from the browser test" }] }),
    });
    answer = { status: res.status, body: await res.text() };
    // A new key reaches the data path within one policy poll.
    if (res.status !== 401 || attempt >= 20) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (answer.status !== 200) throw new Error(`chat completion: ${answer.status} ${answer.body}`);

  step("set a team budget with an 80% alert");
  await page.getByRole("link", { name: "Budgets & alerts" }).click();
  await page.waitForURL(`${base}/app/budgets`);
  await page.getByLabel("Applies to").selectOption("team");
  await page.locator("#budget-team").selectOption("research");
  await page.getByLabel("Limit (USD)").fill("25");
  await page.getByLabel("Alert at (% of the limit)").fill("80");
  await page.getByRole("button", { name: "Save budget" }).click();
  await expectText("table td", "Team research");
  await expectText("table td", "$25.00");
  await expectText("table td", "80%");

  step("see the spend in Usage");
  const usage = await pollFor(`${base}/app/usage?group_by=team&days=7`, "#usage-table", "research");
  if (!/\$0\.0\d*[1-9]/.test(usage)) throw new Error(`usage shows no spend: ${usage}`);
  await pollFor(`${base}/app/usage?group_by=model&days=7`, "#usage-table", model);

  step("see the request in Logs");
  await pollFor(`${base}/app/logs`, "#request-log", model);
  await page.locator("#request-log details summary").first().click();
  await expectText("#request-log details[open] dd", "e2e");
  await expectText("#request-log details[open] .badge", "200");

  step("buy credits through Stripe's hosted checkout");
  await page.getByRole("link", { name: "Credits", exact: true }).click();
  await page.waitForURL(`${base}/app/credits`);
  await expectText("#balance-amount", "$0.00");
  await page.getByLabel("Amount (USD)").fill("25");
  await page.getByRole("button", { name: "Add credits" }).click();
  await page.waitForURL((url) => !url.href.startsWith(base), { timeout: 10_000 });
  await page.screenshot({ path: path.join(shots, "checkout-desktop.png"), fullPage: true });
  await page.getByRole("button", { name: "Pay $25.00" }).click();
  await page.waitForURL(`${base}/app/credits?checkout=success`);
  await expectText(".notice", "credits appear once Stripe confirms");
  await pollFor(`${base}/app/credits?checkout=success`, "#balance-amount", "$25.00");
  await expectText("#credit-ledger td", "Purchase");
  const receipt = await page.getByRole("link", { name: "Receipt" }).first().getAttribute("href");
  if (!receipt || !receipt.includes("/receipts/ch_")) throw new Error(`no receipt link: ${receipt}`);
  await page.screenshot({ path: path.join(shots, "credits-purchased-desktop.png"), fullPage: true });

  step("invite a colleague and open the link");
  await page.goto(`${base}/app/teams`);
  await page.getByLabel("Email", { exact: true }).fill("colleague@e2e.example");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Create invitation link" }).click();
  const inviteLink = (await page.locator("#invite-link").textContent()).trim();
  await page.screenshot({ path: path.join(shots, "teams-invited-desktop.png"), fullPage: true });
  const guestContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const guest = await guestContext.newPage();
  watch(guest, "invitee");
  await guest.goto(inviteLink);
  await guest.locator("h1", { hasText: "Join an organisation" }).waitFor();
  await guest.screenshot({ path: path.join(shots, "invite-phone.png"), fullPage: true });
  await guest.getByLabel("Choose a password").fill("another long passphrase");
  await guest.getByRole("button", { name: "Join E2E Labs" }).click();
  await guest.waitForURL(`${base}/app`);
  await guest.locator(".who", { hasText: "colleague@e2e.example" }).waitFor();
  await guestContext.close();

  if (providerUrl) {
    step("add a provider credential and test it");
    await page.getByRole("link", { name: "Providers", exact: true }).click();
    await page.waitForURL(`${base}/app/providers`);
    await page.screenshot({ path: path.join(shots, "providers-empty-desktop.png"), fullPage: true });
    await page.locator("#cred-name").fill("local");
    await page.locator("#cred-kind").selectOption("openai-compatible");
    await page.locator("#cred-base-url").fill(providerUrl);
    await page.locator("#cred-key").fill("sk-e2e-local-0123456789");
    await page.getByRole("button", { name: "Add credential" }).click();
    await expectText("#credentials td", "sk-…6789");
    await page.getByRole("button", { name: "Test the connection of local" }).click();
    await expectText("#credentials td", "connected");

    step("add a model");
    await page.getByRole("link", { name: "Models", exact: true }).click();
    await page.waitForURL(`${base}/app/models`);
    await page.locator("#model-name").fill("my-model");
    await page.locator("#model-provider").selectOption("local");
    await page.locator("#model-upstream").fill("gpt-4o-mini");
    await page.locator("#model-input").fill("1");
    await page.locator("#model-output").fill("2");
    await page.getByRole("button", { name: "Add model" }).click();
    await expectText("#models td", "my-model");
    await page.locator("#route-name").fill("chat");
    await page.locator("#route-targets").fill("my-model=1");
    await page.locator("#route-timeout").fill("30s");
    await page.getByRole("button", { name: "Add route" }).click();
    await expectText("#routes td", "my-model=1");

    step("chat in the playground");
    await page.waitForTimeout(1000); // the data path picks the model up within a poll
    await page.getByRole("link", { name: "Playground", exact: true }).click();
    await page.waitForURL(`${base}/app/playground`);
    await page.locator("#pg-model").selectOption("chat");
    await page.locator("#pg-message").fill("hello from the playground");
    await page.getByRole("button", { name: "Send" }).click();
    await expectText("#answer-text", "Echo: hello from the playground", 30_000);
    await expectText("#answer-provider", "local");
    await expectText("#answer-cost", "$");
    await page.screenshot({ path: path.join(shots, "playground-answer-desktop.png"), fullPage: true });
  }

  step("override the team's PII policy on its page");
  await page.goto(`${base}/app/teams`);
  await page.getByRole("link", { name: "research", exact: true }).click();
  await page.waitForURL(/\/app\/teams\/[^/?]+$/);
  const teamPage = new URL(page.url()).pathname;
  await expectText("#pii-level", "inherits");
  await page.getByLabel("Email addresses").selectOption("tokenize");
  await page.getByRole("button", { name: "Save PII policy" }).click();
  await expectText("#pii-level", "overrides");
  await expectText("#pii-level", "Email addresses");

  step("screenshots of every page");
  const pages = {
    overview: "/app",
    keys: "/app/keys",
    teams: "/app/teams",
    budgets: "/app/budgets",
    credits: "/app/credits",
    usage: "/app/usage",
    logs: "/app/logs",
    audit: "/app/audit",
    settings: "/app/settings",
    providers: "/app/providers",
    models: "/app/models",
    playground: "/app/playground",
    privacy: "/app/settings/privacy",
    security: "/app/account/security",
  };
  const keyLink = await page.goto(`${base}/app/keys`).then(() =>
    page.getByRole("link", { name: "Edit", exact: true }).first().getAttribute("href"));
  pages["key-edit"] = keyLink;
  pages.team = teamPage;
  for (const [name, url] of Object.entries(pages)) {
    await page.goto(`${base}${url}`);
    await page.screenshot({ path: path.join(shots, `${name}-desktop.png`), fullPage: true });
  }
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    storageState: await desktop.storageState(),
  });
  const mobile = await phone.newPage();
  watch(mobile, "phone");
  for (const [name, url] of Object.entries(pages)) {
    await mobile.goto(`${base}${url}`);
    const overflow = await mobile.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 1) problems.push(`phone: ${url} overflows horizontally by ${overflow}px`);
    await mobile.screenshot({ path: path.join(shots, `${name}-phone.png`), fullPage: true });
  }
  step("phone navigation: a Menu disclosure, keyboard usable, no script needed");
  await mobile.goto(`${base}/app`);
  if (await mobile.locator(".appnav").isVisible()) problems.push("phone: the wide navigation row is shown");
  const menu = mobile.locator("details.navmenu > summary");
  await menu.waitFor({ state: "visible" });
  const menuLinks = mobile.locator("details.navmenu nav a");
  if (await menuLinks.first().isVisible()) problems.push("phone: the menu starts open");
  await menu.focus();
  await mobile.keyboard.press("Enter");
  await menuLinks.filter({ hasText: "Keys" }).waitFor({ state: "visible" });
  const count = await menuLinks.count();
  if (count !== 11) problems.push(`phone: the menu has ${count} links, expected 11`);
  const box = await mobile.locator("details.navmenu nav").boundingBox();
  if (!box || box.x < 0 || box.x + box.width > 390) {
    problems.push(`phone: the open menu leaves the screen: ${JSON.stringify(box)}`);
  }
  await mobile.screenshot({ path: path.join(shots, "menu-open-phone.png"), fullPage: true });
  await menuLinks.filter({ hasText: "Keys" }).click();
  await mobile.waitForURL(`${base}/app/keys`);
  if (await page.locator("details.navmenu").isVisible()) problems.push("desktop: the phone menu is shown");
  const anonymous = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const visitor = await anonymous.newPage();
  watch(visitor, "anonymous");
  for (const name of ["login", "signup", "reset"]) {
    await visitor.goto(`${base}/${name}`);
    await visitor.screenshot({ path: path.join(shots, `${name}-phone.png`), fullPage: true });
    await visitor.setViewportSize({ width: 1280, height: 800 });
    await visitor.screenshot({ path: path.join(shots, `${name}-desktop.png`), fullPage: true });
    await visitor.setViewportSize({ width: 390, height: 844 });
  }

  step("log out");
  await page.goto(`${base}/app`);
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(`${base}/login`);
} catch (err) {
  console.error(`FAILED: ${err.stack ?? err}`);
  await page.screenshot({ path: path.join(shots, "failure.png"), fullPage: true }).catch(() => {});
  exitCode = 1;
}
if (problems.length > 0) {
  console.error(`${problems.length} browser problem(s):\n${problems.join("\n")}`);
  exitCode = 1;
}
await browser.close();
console.log(exitCode === 0 ? "dashboard browser test passed" : "dashboard browser test failed");
process.exit(exitCode);
