// Included in every program, after the generated preamble: special values and the
// float16 rounding of the stores.

float inf1() { return uintBitsToFloat(0x7f800000u); }
float nan1() { return uintBitsToFloat(0x7fc00000u); }

// float16 rounding of float32 values (round to nearest even; overflow to inf, float16
// subnormals kept): GLSL's packHalf2x16 is loose about both on some drivers
vec4 to_half4(vec4 v) {
  vec4 a = abs(v);
  uvec4 e = floatBitsToUint(a) >> 23;
  vec4 quantum = uintBitsToFloat((max(e, uvec4(113u)) - 10u) << 23);  // 2**(exponent - 10)
  vec4 r = sign(v) * roundEven(a / quantum) * quantum;
  return mix(r, sign(v) * inf1(), greaterThanEqual(a, vec4(65520.0)));
}

bvec4 isinf4(vec4 v) { return equal(floatBitsToUint(abs(v)), uvec4(0x7f800000u)); }
