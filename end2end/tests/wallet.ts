// A stand-in for the Petra extension: `window.aptos` with Petra's API, signing with a real ed25519 key in Node.
import { Page } from '@playwright/test';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';

export interface TestWallet {
  address: string;
  publicKey: string;
}

/** Installs a fresh wallet into `page` (before any page script runs). */
export async function installWallet(page: Page, options: { chainId?: number } = {}): Promise<TestWallet> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const address = '0x' + createHash('sha3-256').update(Buffer.concat([raw, Buffer.from([0])])).digest('hex');
  const wallet = { address, publicKey: '0x' + raw.toString('hex'), chainId: options.chainId ?? 1 };
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
