import { chromium } from 'playwright-core';
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless=new','--no-sandbox'] });
const p = await b.newPage();
await p.goto('data:text/html,<p>x</p>');
const s = await p.context().newCDPSession(p);
console.log(await s.send('Runtime.getHeapUsage'));
await p.evaluate(() => { window.keep = new Uint8Array(100e6).fill(1); });
console.log(await s.send('Runtime.getHeapUsage'));
await b.close();
