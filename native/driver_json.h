// A small JSON reader for the driver's one input (the LoadSpec, argv[1]) and a string
// builder for its one output line. Not a general JSON library: documents of a few KiB,
// numbers as doubles, strings without \u escapes beyond ASCII control characters.
#ifndef MESHBENCH_DRIVER_JSON_H
#define MESHBENCH_DRIVER_JSON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JNULL, JBOOL, JNUM, JSTR, JARR, JOBJ } jtype;

typedef struct jval {
  jtype type;
  double num;
  char *str;          // JSTR: value; member of JOBJ: its key lives in `key`
  char *key;
  struct jval *child; // JARR/JOBJ: first element
  struct jval *next;  // next sibling
} jval;

typedef struct {
  const char *p;
  const char *err;
  int depth;
} jparser;

static void jskip(jparser *j) {
  while (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t') j->p++;
}

static char *jstring(jparser *j) {
  if (*j->p != '"') {
    j->err = "expected a string";
    return NULL;
  }
  j->p++;
  size_t cap = 32, n = 0;
  char *s = malloc(cap);
  while (*j->p && *j->p != '"') {
    char c = *j->p++;
    if (c == '\\') {
      char e = *j->p++;
      switch (e) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'u': {
          unsigned v = 0;
          for (int i = 0; i < 4; i++) {
            char h = *j->p++;
            v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
          }
          c = v < 0x80 ? (char)v : '?';
          break;
        }
        case 0: j->err = "unterminated string"; free(s); return NULL;
        default: c = e;
      }
    }
    if (n + 2 > cap) s = realloc(s, cap *= 2);
    s[n++] = c;
  }
  if (*j->p != '"') {
    j->err = "unterminated string";
    free(s);
    return NULL;
  }
  j->p++;
  s[n] = 0;
  return s;
}

static jval *jparse_value(jparser *j) {
  jskip(j);
  if (++j->depth > 32) {
    j->err = "nested too deep";
    return NULL;
  }
  jval *v = calloc(1, sizeof *v);
  char c = *j->p;
  if (c == '{' || c == '[') {
    v->type = c == '{' ? JOBJ : JARR;
    char close = c == '{' ? '}' : ']';
    j->p++;
    jskip(j);
    jval **tail = &v->child;
    if (*j->p == close) {
      j->p++;
    } else {
      for (;;) {
        char *key = NULL;
        if (v->type == JOBJ) {
          jskip(j);
          key = jstring(j);
          if (!key) return NULL;
          jskip(j);
          if (*j->p != ':') {
            j->err = "expected ':'";
            return NULL;
          }
          j->p++;
        }
        jval *e = jparse_value(j);
        if (!e) return NULL;
        e->key = key;
        *tail = e;
        tail = &e->next;
        jskip(j);
        if (*j->p == ',') {
          j->p++;
          continue;
        }
        if (*j->p == close) {
          j->p++;
          break;
        }
        j->err = "expected ',' or a closing bracket";
        return NULL;
      }
    }
  } else if (c == '"') {
    v->type = JSTR;
    v->str = jstring(j);
    if (!v->str) return NULL;
  } else if (c == 't' && !strncmp(j->p, "true", 4)) {
    v->type = JBOOL, v->num = 1, j->p += 4;
  } else if (c == 'f' && !strncmp(j->p, "false", 5)) {
    v->type = JBOOL, v->num = 0, j->p += 5;
  } else if (c == 'n' && !strncmp(j->p, "null", 4)) {
    v->type = JNULL, j->p += 4;
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    char *end;
    v->type = JNUM;
    v->num = strtod(j->p, &end);
    j->p = end;
  } else {
    j->err = "unexpected character";
    return NULL;
  }
  j->depth--;
  return v;
}

/** Parses a whole document; NULL with *err set on a mistake. Never freed: one spec per process. */
static jval *jparse(const char *text, const char **err) {
  jparser j = {text, NULL, 0};
  jval *v = jparse_value(&j);
  if (v) {
    jskip(&j);
    if (*j.p) j.err = "trailing characters", v = NULL;
  }
  *err = j.err;
  return v;
}

static jval *jget(const jval *obj, const char *key) {
  if (!obj || obj->type != JOBJ) return NULL;
  for (jval *e = obj->child; e; e = e->next)
    if (!strcmp(e->key, key)) return e;
  return NULL;
}

static int jlen(const jval *arr) {
  int n = 0;
  if (arr && arr->type == JARR)
    for (jval *e = arr->child; e; e = e->next) n++;
  return n;
}

// ---- output ----

typedef struct {
  char *s;
  size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    b->cap = b->cap ? b->cap * 2 + (size_t)n : 1024 + (size_t)n;
    b->s = realloc(b->s, b->cap);
  }
}

/** A JSON string literal of `s` (quotes included). */
static void sb_jstr(sbuf *b, const char *s) {
  sb_printf(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
    else if (c < 0x20) sb_printf(b, "\\u%04x", c);
    else sb_printf(b, "%c", c);
  }
  sb_printf(b, "\"");
}

#endif
