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

  // SEP-12 (after sep10): a new customer, create with the SDK's add (JSON), a binary field
  // with update (multipart), a memo customer, a foreign id, a callback registration (when
  // VASPGATE_CALLBACK_URL is set) and a delete.
  async sep12(ctx) {
    const sep12 = await ctx.anchor.sep12(ctx.auth);
    // The SDK's own client and base URL, for the calls it has no method for.
    const http = sep12.httpClient;
    const base = sep12.baseUrl;
    const bearer = (auth) => ({ headers: { Authorization: `Bearer ${auth.token}` } });
    const status = async (p) => {
      try {
        await p;
        return 200;
      } catch (err) {
        return err?.response?.status ?? err?.error?.response?.status ?? String(err);
      }
    };

    const fresh = (await http.get(`${base}/customer?type=sep6`, bearer(ctx.auth))).data;
    let sdkFresh = "found";
    try {
      await sep12.getCustomer({ type: "sep6" });
    } catch (err) {
      sdkFresh = err?.constructor?.name ?? String(err);
    }
    const added = await sep12.add({
      type: "sep6",
      sep9Info: { first_name: "Ada", last_name: "Lovelace", email_address: "ada@example.com" },
    });
    const afterAdd = await sep12.getCustomer({ id: added.id, type: "sep6" });
    const byToken = await sep12.getCustomer({ type: "sep6" });
    const updated = await sep12.update({
      id: added.id,
      type: "sep6",
      sep9BinaryInfo: { photo_id_front: Buffer.from("\x89PNG fake image") },
    });
    const afterBinary = await sep12.getCustomer({ id: added.id, type: "sep6" });

    const memoSep12 = await ctx.anchor.sep12(ctx.memoAuth);
    const memoAdded = await memoSep12.add({ type: "sep6", memo: ctx.memo, sep9Info: { first_name: "Grace" } });
    const memoGet = await memoSep12.getCustomer({ type: "sep6", memo: ctx.memo });
    const foreignGet = await status(memoSep12.getCustomer({ id: added.id, type: "sep6" }));
    const foreignPut = await status(memoSep12.update({ id: added.id, type: "sep6", sep9Info: { first_name: "Eve" } }));

    let callback = null;
    if (process.env.VASPGATE_CALLBACK_URL) {
      callback = await status(
        http.put(`${base}/customer/callback`, { id: added.id, url: process.env.VASPGATE_CALLBACK_URL }, bearer(ctx.auth)),
      );
    }
    await memoSep12.delete(ctx.memoAccountKp.publicKey, ctx.memo);
    const afterDelete = (await http.get(`${base}/customer?type=sep6&memo=${ctx.memo}`, bearer(ctx.memoAuth))).data;

    return {
      fresh,
      sdk_fresh: sdkFresh,
      id: added.id,
      after_add: afterAdd,
      by_token: byToken,
      updated_id: updated.id,
      after_binary: afterBinary,
      memo_id: memoAdded.id,
      memo_get: memoGet,
      foreign_get: foreignGet,
      foreign_put: foreignPut,
      callback,
      after_delete: afterDelete,
      token: ctx.auth.token,
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
