import { chromium, type Browser } from 'playwright-core';

/** The Chromium the browser tests drive (Debian's; WEBVIT_CHROMIUM names another). */
export const CHROMIUM = process.env.WEBVIT_CHROMIUM ?? '/usr/bin/chromium';

const COMMON_ARGS = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** WebGPU on SwiftShader (the only adapter headless Chromium has here: ../shared/webgpu-on-cpu.md), and a fake camera. */
const WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/** Headless Chromium, with WebGPU on SwiftShader unless `webgpu` is false. */
export function launchChromium({ webgpu = true }: { webgpu?: boolean } = {}): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...COMMON_ARGS, ...(webgpu ? WEBGPU_ARGS : [])], timeout: 60_000 });
}
