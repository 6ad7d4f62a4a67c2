// Functions GLSL lacks or computes loosely, shared by the shader families.

// erf(x) to about 1e-7: a Taylor series near 0 (no cancellation), elsewhere
// 1 - erfc(|x|) with the Chebyshev-fitted erfc of Numerical Recipes (error < 1.2e-7).
vec4 erf4(vec4 x) {
  vec4 a = abs(x);
  vec4 x2 = x * x;
  vec4 series = 1.1283791671 * x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (0.1 + x2 * (-1.0 / 42.0 + x2 * (1.0 / 216.0)))));
  vec4 t = 1.0 / (1.0 + 0.5 * a);
  vec4 poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
      + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  vec4 erfc_a = t * exp(-a * a + poly);
  vec4 far = sign(x) * (1.0 - erfc_a);
  return mix(far, series, lessThan(a, vec4(0.5)));
}

// tanh without overflow for large |x| and without cancellation near 0
vec4 tanh4(vec4 x) {
  vec4 e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

vec4 sigmoid4(vec4 x) { return 1.0 / (1.0 + exp(-x)); }

// log(1 + exp(x)) without overflow
vec4 softplus4(vec4 x) { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }

vec4 gelu4(vec4 x) { return 0.5 * x * (1.0 + erf4(x * 0.70710678118654752)); }

vec4 gelu_tanh4(vec4 x) {
  return 0.5 * x * (1.0 + tanh4(0.79788456080286536 * (x + 0.044715 * x * x * x)));
}

// float power as C's pow: negative bases with integral exponents, 0 ** negative = inf
float pow1(float a, float b) {
  if (b == 2.0) return a * a;
  if (b == 1.0) return a;
  if (b == 0.0) return 1.0;
  if (b == 0.5) return sqrt(a);
  if (a == 0.0) return b > 0.0 ? 0.0 : inf1();
  float m = pow(abs(a), b);
  if (a > 0.0) return m;
  if (floor(b) != b) return nan1();
  return mod(b, 2.0) == 1.0 ? -m : m;
}

vec4 pow4(vec4 a, vec4 b) { return vec4(pow1(a.x, b.x), pow1(a.y, b.y), pow1(a.z, b.z), pow1(a.w, b.w)); }

// integer division truncating toward zero (GLSL leaves negative operands undefined);
// a division by zero gives 0, like the reference
vec4 idiv4(vec4 a, vec4 b) {
  ivec4 ia = ivec4(a);
  ivec4 ib = ivec4(b);
  ivec4 q = abs(ia) / max(abs(ib), ivec4(1));
  vec4 s = sign(a) * sign(b);
  return mix(vec4(q) * s, vec4(0.0), equal(b, vec4(0.0)));
}

// C's remainder (sign of a) of integers
vec4 irem4(vec4 a, vec4 b) {
  ivec4 ia = ivec4(a);
  ivec4 ib = ivec4(b);
  ivec4 r = abs(ia) - (abs(ia) / max(abs(ib), ivec4(1))) * max(abs(ib), ivec4(1));
  return mix(vec4(r) * sign(a), vec4(0.0), equal(b, vec4(0.0)));
}
