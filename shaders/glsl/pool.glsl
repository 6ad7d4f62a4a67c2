// MaxPool, AveragePool and LpPool over 1-3 spatial axes, as [N, C, D, H, W] (missing
// axes have size 1).  MODE 0: max; 1: average (COUNT_PAD: windows count the explicit
// padding too); 2: Lp norm (p); 3: MaxPool's indices output (the flat index of each
// window's first maximum, row-major, or column-major over the spatial axes when
// storage_order is 1).
#define IVEC3(name) ivec3(name(0), name(1), name(2))

float pool1(int o) {
  int plane = out_coord(o, 0) * u_oshape(1) + out_coord(o, 1);
  ivec3 start = ivec3(out_coord(o, 2), out_coord(o, 3), out_coord(o, 4)) * IVEC3(u_stride3) - IVEC3(u_pad3);
  ivec3 size = IVEC3(u_in3);
  ivec3 low = -IVEC3(u_pad3);
  ivec3 high = size + IVEC3(u_pad_end3);
  ivec3 kernel = IVEC3(u_kernel3);
  ivec3 dil = IVEC3(u_dil3);
  float best = -uintBitsToFloat(0x7f800000u);
  int best_index = 0;
  float acc = 0.0;
  int count = 0;
  bool found = false;
  for (int kd = 0; kd < kernel.x; kd++) {
    for (int kh = 0; kh < kernel.y; kh++) {
      for (int kw = 0; kw < kernel.z; kw++) {
        ivec3 p = start + ivec3(kd, kh, kw) * dil;
        bool inside = all(greaterThanEqual(p, ivec3(0))) && all(lessThan(p, size));
#if {{MODE}} == 1 && {{COUNT_PAD}}
        if (all(greaterThanEqual(p, low)) && all(lessThan(p, high))) count++;
#else
        if (inside) count++;
#endif
        if (!inside) continue;
        int at = ((plane * size.x + p.x) * size.y + p.y) * size.z + p.z;
        float v = X_at(at);
#if {{MODE}} == 0 || {{MODE}} == 3
        if (!found || v > best) {
          best = v;
          best_index = {{ORDER}} == 0 ? (p.x * size.y + p.y) * size.z + p.z
                                      : (p.z * size.y + p.y) * size.x + p.x;
          found = true;
        }
#elif {{MODE}} == 1
        acc += v;
#else
        acc += pow(abs(v), u_p());
#endif
      }
    }
  }
#if {{MODE}} == 0
  return best;
#elif {{MODE}} == 1
  return acc / float(max(count, 1));
#elif {{MODE}} == 2
  return pow(acc, 1.0 / u_p());
#else
  return float(plane * size.x * size.y * size.z + best_index);
#endif
}

vec4 run(int t) {
  int o = 4 * t;
  return vec4(pool1(o), pool1(o + 1), pool1(o + 2), pool1(o + 3));
}
