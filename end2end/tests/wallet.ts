// Stand-ins for the Petra extension, signing with a real ed25519 key in Node: `window.aptos` with Petra's
// signMessage API, or a wallet-standard (AIP-62) wallet offering Sign in with Aptos (AIP-116), whose message and
// signing bytes come from the reference library @aptos-labs/siwa.
import { Page } from '@playwright/test';
import { createSignInMessage, createSignInSigningMessage } from '@aptos-labs/siwa';
import { createHash, generateKeyPairSync, KeyObject, sign } from 'node:crypto';

export interface TestWallet {
  address: string;
  publicKey: string;
}

/** A fresh ed25519 key and its Aptos address. */
function newAccount(): { address: string; publicKey: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const address = '0x' + createHash('sha3-256').update(Buffer.concat([raw, Buffer.from([0])])).digest('hex');
  return { address, publicKey: '0x' + raw.toString('hex'), privateKey };
}

/** Installs a fresh wallet into `page` (before any page script runs). */
export async function installWallet(page: Page, options: { chainId?: number } = {}): Promise<TestWallet> {
  const { address, publicKey, privateKey } = newAccount();
  const wallet = { address, publicKey, chainId: options.chainId ?? 1 };
  await page.exposeFunction('__pictorTestSign', (message: string) =>
    sign(null, Buffer.from(message, 'utf8'), privateKey).toString('hex'),
  );
  await page.addInitScript((w) => {
    const account = { address: w.address, publicKey: w.publicKey };
    (window as any).aptos = {
      connect: async () => account,
      account: async () => account,
      // Petra's format: the requested fields, each on its own line, around the message and nonce.
      signMessage: async (request: any) => {
        const lines = ['APTOS'];
        if (request.address) lines.push(`address: ${w.address}`);
        if (request.application) lines.push(`application: ${location.origin}`);
        if (request.chainId) lines.push(`chainId: ${w.chainId}`);
        lines.push(`message: ${request.message}`, `nonce: ${request.nonce}`);
        const fullMessage = lines.join('\n');
        const signature = await (window as any).__pictorTestSign(fullMessage);
        return { fullMessage, signature, prefix: 'APTOS', message: request.message, nonce: request.nonce };
      },
    };
  }, wallet);
  return wallet;
}

/**
 * Installs a wallet that registers through the wallet standard and offers only `aptos:signIn` (no `window.aptos`):
 * it binds its fields as AIP-116 says (the page's host and origin, its address, version 1, its network) and answers
 * with ts-sdk-like objects (`toUint8Array()`), as Petra does.
 */
export async function installSignInWallet(page: Page, options: { network?: string } = {}): Promise<TestWallet> {
  const { address, publicKey, privateKey } = newAccount();
  await page.exposeFunction('__pictorTestSignIn', (input: any) => {
    const signingMessage = createSignInSigningMessage(createSignInMessage(input));
    return sign(null, Buffer.from(signingMessage), privateKey).toString('hex');
  });
  await page.addInitScript((w) => {
    const bytes = (hex: string) => Uint8Array.from(hex.replace(/^0x/, '').match(/../g)!.map((b) => parseInt(b, 16)));
    const wallet = {
      version: '1.0.0',
      name: 'Petra',
      icon: 'data:image/svg+xml;base64,PHN2Zy8+',
      chains: [w.network],
      accounts: [],
      features: {
        'aptos:signIn': {
          version: '0.1.0',
          signIn: async (input: any) => {
            // Its own bound fields win over what the site filled in (a real wallet flags a mismatch).
            const bound = {
              ...input,
              address: w.address,
              chainId: w.network,
              domain: location.host,
              uri: location.origin,
              version: '1',
            };
            const signature = await (window as any).__pictorTestSignIn(bound);
            return {
              status: 'Approved',
              args: {
                account: { address: w.address, publicKey: { toUint8Array: () => bytes(w.publicKey) } },
                input: bound,
                signature: { toUint8Array: () => bytes(signature) },
                type: 'ed25519',
              },
            };
          },
        },
      },
    };
    window.addEventListener('wallet-standard:app-ready', (event: any) => event.detail.register(wallet));
  }, { address, publicKey, network: options.network ?? 'aptos:mainnet' });
  return { address, publicKey };
}
