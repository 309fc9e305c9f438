// Where images come from: the drop zone (a button that also opens the file picker), paste, and
// the camera. Each hands the page a Blob/File or a video element; the page does the rest.

const $ = (id) => document.getElementById(id);

/** The first image file among a DataTransfer's files or items, if any. */
function imageFrom(dt) {
  if (!dt) return undefined;
  for (const f of dt.files ?? []) if (f.type.startsWith('image/')) return f;
  for (const item of dt.items ?? []) {
    if (item.kind === 'file' && item.type.startsWith('image/')) {
      const f = item.getAsFile();
      if (f) return f;
    }
  }
  return undefined;
}

/**
 * Drop, pick and paste. `onImage(file, how)` gets every image; `onRefused(message)` hears a drop
 * or paste that held no image.
 */
export function wireImageInputs({ onImage, onRefused }) {
  const drop = $('drop');
  const picker = $('file');
  drop.addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    const f = picker.files?.[0];
    if (f) onImage(f, 'chosen');
    picker.value = ''; // choosing the same file again still fires 'change'
  });
  // Dropping anywhere on the page works; the zone lights up while a drag is over the page.
  let depth = 0;
  const over = (on) => drop.classList.toggle('over', on);
  document.addEventListener('dragenter', (e) => {
    if (![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
    depth += 1;
    over(true);
  });
  document.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) over(false);
  });
  document.addEventListener('dragover', (e) => {
    e.preventDefault(); // allows the drop
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault(); // the browser would otherwise open the file and leave the page
    depth = 0;
    over(false);
    if (drop.disabled) return;
    const f = imageFrom(e.dataTransfer);
    if (f) onImage(f, 'dropped');
    else onRefused('That was not an image file.');
  });
  document.addEventListener('paste', (e) => {
    if (drop.disabled) return;
    const f = imageFrom(e.clipboardData);
    if (f) {
      e.preventDefault();
      onImage(f, 'pasted');
    } else if (e.clipboardData?.types.includes('Files')) onRefused('The clipboard holds no image.');
  });
}

/**
 * The camera: a start/stop button, "Classify this frame", and a "Live" switch that classifies
 * frame after frame (one in flight at a time). `classifyFrame(video)` returns a promise.
 */
export function wireCamera({ classifyFrame, onError }) {
  const button = $('camera');
  const capture = $('capture');
  const liveLabel = $('live-label');
  const live = $('live');
  const video = $('video');
  let stream;

  const stop = () => {
    for (const t of stream?.getTracks() ?? []) t.stop();
    stream = undefined;
    video.srcObject = null;
    video.hidden = capture.hidden = liveLabel.hidden = true;
    live.checked = false;
    button.textContent = 'Use the camera';
  };

  const loop = async () => {
    while (live.checked && stream) {
      try {
        await classifyFrame(video);
      } catch (e) {
        live.checked = false;
        onError(e);
      }
      await new Promise((r) => requestAnimationFrame(r));
    }
  };

  button.addEventListener('click', async () => {
    if (stream) return stop();
    if (!navigator.mediaDevices?.getUserMedia) return onError(new Error('this browser offers no camera access here (it needs https or localhost)'));
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    } catch (e) {
      return onError(new Error(`the camera could not be opened (${e.name}: ${e.message})`));
    }
    video.srcObject = stream;
    video.hidden = capture.hidden = liveLabel.hidden = false;
    button.textContent = 'Stop the camera';
    await video.play().catch(() => undefined);
    capture.focus();
  });
  capture.addEventListener('click', () => classifyFrame(video).catch(onError));
  live.addEventListener('change', () => void loop());
  return { stop };
}
