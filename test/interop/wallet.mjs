// A real Stellar wallet (@stellar/typescript-wallet-sdk, pinned in package.json) talking to a
// running vaspgate. The Go test in this directory starts vaspgate and runs this script.
//
// Environment:
//   VASPGATE_HOME_DOMAIN  the anchor's home domain, e.g. "vaspgate.test" (required)
//   VASPGATE_STEPS        comma-separated steps to run in order (default "sep10")
//
// Output: one JSON object on stdout, one key per step with what the step wants checked.
// Exit status 1 (and the error on stderr) on the first failing step.
//
// Adding a step (e.g. SEP-12): add a function to `steps` below. It receives `ctx`, which holds
// the wallet, the anchor and what earlier steps left there (ctx.auth: the SEP-10 AuthToken
// of ctx.accountKp, the plain account; ctx.memoAuth: the token of ctx.memoAccountKp with
// memo ctx.memo), and returns the JSON-able result of the step.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { walletSdk, SigningKeypair, Keypair } = require("@stellar/typescript-wallet-sdk");

const steps = {
  // SEP-1 + SEP-10: read stellar.toml, authenticate a plain account and a memo account.
  async sep10(ctx) {
    const toml = await ctx.anchor.sep1();
    const sep10 = await ctx.anchor.sep10();

    ctx.accountKp = SigningKeypair.fromSecret(Keypair.random().secret());
    ctx.auth = await sep10.authenticate({ accountKp: ctx.accountKp });

    ctx.memo = "42";
    ctx.memoAccountKp = SigningKeypair.fromSecret(Keypair.random().secret());
    ctx.memoAuth = await sep10.authenticate({ accountKp: ctx.memoAccountKp, memoId: ctx.memo });

    return {
      signing_key: toml.signingKey,
      web_auth_endpoint: toml.webAuthEndpoint,
      kyc_server: toml.kycServer,
      account: ctx.accountKp.publicKey,
      token: ctx.auth.token,
      token_account: ctx.auth.account,
      memo_account: ctx.memoAccountKp.publicKey,
      memo: ctx.memo,
      memo_token: ctx.memoAuth.token,
      memo_token_memo: ctx.memoAuth.memo,
    };
  },
};

function describe(err) {
  // The SDK wraps axios errors; show the server's answer when there is one.
  const data = err?.error?.response?.data ?? err?.response?.data;
  return `${err?.stack ?? err}${data ? `\nserver answered: ${JSON.stringify(data)}` : ""}`;
}

async function main() {
  const homeDomain = process.env.VASPGATE_HOME_DOMAIN;
  if (!homeDomain) throw new Error("VASPGATE_HOME_DOMAIN is not set");
  const names = (process.env.VASPGATE_STEPS || "sep10").split(",").map((s) => s.trim()).filter(Boolean);

  const wallet = walletSdk.Wallet.TestNet();
  // allowHttp is the wallet SDK's switch for http:// anchors; it is refused off testnet.
  const ctx = { wallet, anchor: wallet.anchor({ homeDomain, allowHttp: true }) };
  const out = {};
  for (const name of names) {
    const step = steps[name];
    if (!step) throw new Error(`unknown step ${name}`);
    try {
      out[name] = await step(ctx);
    } catch (err) {
      throw new Error(`step ${name}: ${describe(err)}`);
    }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err?.message ?? err}\n`);
  process.exit(1);
});
