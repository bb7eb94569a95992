package bot

import (
	"context"
	"fmt"
	"time"
)

// sdkCache adapts our session store (in-process or go-redis v9) to the SDK's
// cache.Cache, whose own Redis cache is built on go-redis v8. The SDK reads
// tokens back with a type assertion to string, so values come back as
// strings.
type sdkCache struct{ kv TokenStore }

const sdkCachePrefix = "wechat:sdk:"

func (c sdkCache) Get(key string) any {
	v, ok, err := c.kv.Get(context.Background(), sdkCachePrefix+key)
	if err != nil || !ok {
		return nil
	}
	return string(v)
}

func (c sdkCache) Set(key string, val any, timeout time.Duration) error {
	var b []byte
	switch v := val.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		b = fmt.Append(nil, v)
	}
	return c.kv.Set(context.Background(), sdkCachePrefix+key, b, timeout)
}

func (c sdkCache) IsExist(key string) bool {
	_, ok, err := c.kv.Get(context.Background(), sdkCachePrefix+key)
	return err == nil && ok
}

func (c sdkCache) Delete(key string) error {
	return c.kv.Del(context.Background(), sdkCachePrefix+key)
}
