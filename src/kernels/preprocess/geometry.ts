/**
 * The vocabulary of the preprocessing kernels: how pixels are resampled, which channels come out,
 * and where one image goes (resize, then a centre-crop window). The model layer decides these
 * from a weight file's `webvit.preprocess` (src/image/preprocess.ts); the kernels only follow them.
 */
export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';
export type ChannelMode = 'rgb' | 'grayscale';

/** Where one image goes: resize to resizeW × resizeH (any size: aspect kept or not), then a crop × crop window at (left, top). */
export interface PreprocessGeometry {
  srcW: number;
  srcH: number;
  resizeW: number;
  resizeH: number;
  /**
   * Crop window in the resized image; negative when the image is smaller than the crop (zero
   * padding, as torchvision's CenterCrop and Hugging Face's center_crop pad). The model layer
   * rounds these its chosen library's way; the kernels only follow them.
   */
  left: number;
  top: number;
  crop: number;
}
