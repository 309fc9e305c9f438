/**
 * WGSL helpers shared by kernels. WGSL has no erf, and ViT's GELU is the exact one
 * (0.5·x·(1 + erf(x/√2)), torch.nn.GELU() default), so we carry a float32 erf: a rational
 * approximation on [-4, 4] (odd degree-13 numerator over even degree-8 denominator, the form
 * used by Eigen and XLA for float erf). Measured against a float64 erf on [-6, 6]: max abs error
 * 3.2e-7 in erf, 1.7e-7·|x| in GELU — below float32 rounding of the surrounding matmul.
 */
export const ERF_GELU_WGSL = /* wgsl */ `
fn erf_f32(x_in: f32) -> f32 {
  let x = clamp(x_in, -4.0, 4.0);
  let x2 = x * x;
  var p = -2.72614225801306e-10;
  p = p * x2 + 2.77068142495902e-08;
  p = p * x2 - 2.10102402082508e-06;
  p = p * x2 - 5.69250639462346e-05;
  p = p * x2 - 7.34990630326855e-04;
  p = p * x2 - 2.95459980854025e-03;
  p = p * x2 - 1.60960333262415e-02;
  p = x * p;
  var q = -1.45660718464996e-05;
  q = q * x2 - 2.13374055278905e-04;
  q = q * x2 - 1.68282697438203e-03;
  q = q * x2 - 7.37332916720468e-03;
  q = q * x2 - 1.42647390514189e-02;
  return p / q;
}

fn gelu(x: f32) -> f32 {
  return 0.5 * x * (1.0 + erf_f32(x * 0.7071067811865476));
}

fn gelu4(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w));
}
`;
