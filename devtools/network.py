"""A realistic demo network: dealers of one brand across real Chinese cities, and raw leads.

    python -m devtools.network --dealers 220 --leads 2000     (prints a summary)

Everything is deterministic for a seed (one `random.Random(seed)` per call, never the global
generator), so the demo data (`devtools.seed`), the sample leads of `./scripts/run.sh
--demo-leads` and the benchmarks all see the same network, and reruns merge instead of piling up.

- `CITIES`: real cities with their real centre coordinates, province, OEM sales region (a fixed
  mapping by province) and a size tier (1 biggest) that drives dealer count and lead volume.
- `SERIES`: the demo brand's line-up with price bands (CNY).
- `generate_dealers()`: `Dealer` rows (db.models), ids `D-<CITYCODE>-NN` per city, so the first
  dealers of Shanghai are D-SH-01, D-SH-02 (the ids the demo users and the README name).
- `generate_raw_leads()`: `RawLead`s (domain.models) with the channel mix, costs and data
  quality of real intake.
"""

from __future__ import annotations

import argparse
import math
import random
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from db.models import Dealer
from domain import places
from domain.dispatch import haversine_km
from domain.models import Channel, RawLead, Timeframe

DEFAULT_BRAND = "Aurora"
BRAND_NAMES_ZH = {"Aurora": "极光汽车"}

REGIONS = ("North", "East", "South", "Central", "West", "Northeast")

# The OEM's sales regions (销售大区), a fixed mapping by province.
REGION_OF_PROVINCE = {
    "Beijing": "North", "Tianjin": "North", "Hebei": "North", "Shanxi": "North",
    "Inner Mongolia": "North", "Shandong": "North",
    "Shanghai": "East", "Jiangsu": "East", "Zhejiang": "East", "Anhui": "East", "Fujian": "East",
    "Guangdong": "South", "Guangxi": "South", "Hainan": "South",
    "Hubei": "Central", "Hunan": "Central", "Henan": "Central", "Jiangxi": "Central",
    "Sichuan": "West", "Chongqing": "West", "Shaanxi": "West", "Yunnan": "West", "Guizhou": "West",
    "Gansu": "West", "Ningxia": "West", "Qinghai": "West", "Xinjiang": "West",
    "Liaoning": "Northeast", "Jilin": "Northeast", "Heilongjiang": "Northeast",
}


@dataclass(frozen=True)
class City:
    name: str  # English, as leads and dealers carry it
    name_zh: str
    code: str  # the CITYCODE of dealer ids
    province: str
    latitude: float
    longitude: float
    tier: int  # 1 biggest .. 3
    districts: tuple[str, ...] = ()  # store names; generic ones when empty

    @property
    def region(self) -> str:
        return REGION_OF_PROVINCE[self.province]

    @property
    def division_name(self) -> str:
        """The city's name as leads and dealers carry it: its GB/T 2260 division's Chinese name (上海市)."""
        return places.canonical_city(self.name)[1]


def _c(name, zh, code, province, lat, lon, tier, districts=""):
    return City(name, zh, code, province, lat, lon, tier, tuple(districts.split()))


CITIES: tuple[City, ...] = (
    # tier 1: the biggest markets
    _c("Shanghai", "上海", "SH", "Shanghai", 31.23, 121.47, 1,
       "浦东 闵行 徐汇 静安 长宁 普陀 杨浦 宝山 嘉定 松江 青浦 奉贤 虹口 金山 崇明"),
    _c("Beijing", "北京", "BJ", "Beijing", 39.90, 116.40, 1,
       "朝阳 海淀 丰台 东城 西城 石景山 通州 顺义 昌平 大兴 亦庄 望京 房山 门头沟"),
    _c("Guangzhou", "广州", "GZ", "Guangdong", 23.13, 113.26, 1,
       "天河 白云 番禺 海珠 越秀 荔湾 黄埔 花都 南沙 增城 从化 萝岗"),
    _c("Shenzhen", "深圳", "SZ", "Guangdong", 22.54, 114.06, 1,
       "南山 福田 罗湖 宝安 龙岗 龙华 光明 坪山 盐田 前海 坂田"),
    _c("Chengdu", "成都", "CD", "Sichuan", 30.57, 104.07, 1,
       "高新 武侯 锦江 青羊 金牛 成华 双流 郫都 温江 龙泉驿 新都 天府新区"),
    _c("Hangzhou", "杭州", "HZ", "Zhejiang", 30.27, 120.16, 1,
       "西湖 滨江 上城 拱墅 萧山 余杭 临平 钱塘 富阳 临安"),
    _c("Chongqing", "重庆", "CQ", "Chongqing", 29.56, 106.55, 1,
       "渝中 江北 南岸 渝北 九龙坡 沙坪坝 大渡口 巴南 北碚 两江新区"),
    _c("Wuhan", "武汉", "WH", "Hubei", 30.59, 114.31, 1,
       "江汉 武昌 汉阳 洪山 江岸 硚口 东湖高新 青山 东西湖 蔡甸"),
    # tier 2
    _c("Xi'an", "西安", "XA", "Shaanxi", 34.34, 108.94, 2, "雁塔 未央 曲江 高新 长安"),
    _c("Nanjing", "南京", "NJ", "Jiangsu", 32.06, 118.80, 2, "江宁 鼓楼 建邺 栖霞 浦口"),
    _c("Tianjin", "天津", "TJ", "Tianjin", 39.13, 117.20, 2, "河西 南开 滨海 西青 东丽"),
    _c("Suzhou", "苏州", "SU", "Jiangsu", 31.30, 120.59, 2, "园区 吴中 相城 高新 吴江"),
    _c("Changsha", "长沙", "CS", "Hunan", 28.23, 112.94, 2, "岳麓 雨花 开福 芙蓉 星沙"),
    _c("Zhengzhou", "郑州", "ZZ", "Henan", 34.75, 113.63, 2, "金水 郑东 中原 二七 管城"),
    _c("Shenyang", "沈阳", "SY", "Liaoning", 41.81, 123.43, 2, "浑南 和平 沈河 铁西 皇姑"),
    _c("Qingdao", "青岛", "QD", "Shandong", 36.07, 120.38, 2, "市南 崂山 黄岛 城阳 李沧"),
    _c("Dongguan", "东莞", "DG", "Guangdong", 23.02, 113.75, 2, "南城 东城 长安 虎门 松山湖"),
    _c("Foshan", "佛山", "FS", "Guangdong", 23.02, 113.12, 2, "禅城 南海 顺德 三水"),
    _c("Hefei", "合肥", "HF", "Anhui", 31.82, 117.23, 2, "蜀山 包河 政务区 庐阳 瑶海"),
    _c("Jinan", "济南", "JN", "Shandong", 36.65, 117.12, 2, "历下 高新 槐荫 天桥 市中"),
    _c("Ningbo", "宁波", "NB", "Zhejiang", 29.87, 121.54, 2, "鄞州 海曙 江北 北仑 镇海"),
    _c("Wuxi", "无锡", "WX", "Jiangsu", 31.49, 120.31, 2, "新吴 滨湖 梁溪 惠山 锡山"),
    _c("Xiamen", "厦门", "XM", "Fujian", 24.48, 118.09, 2, "思明 湖里 集美 海沧"),
    _c("Fuzhou", "福州", "FZ", "Fujian", 26.07, 119.30, 2, "鼓楼 仓山 台江 晋安"),
    _c("Kunming", "昆明", "KM", "Yunnan", 25.04, 102.71, 2, "五华 官渡 盘龙 西山 呈贡"),
    _c("Dalian", "大连", "DL", "Liaoning", 38.91, 121.61, 2, "甘井子 沙河口 中山 金州"),
    _c("Harbin", "哈尔滨", "HRB", "Heilongjiang", 45.80, 126.53, 2, "南岗 道里 香坊 松北"),
    _c("Changchun", "长春", "CC", "Jilin", 43.82, 125.32, 2, "朝阳 南关 绿园 净月"),
    # tier 3
    _c("Shijiazhuang", "石家庄", "SJZ", "Hebei", 38.04, 114.51, 3),
    _c("Taiyuan", "太原", "TY", "Shanxi", 37.87, 112.55, 3),
    _c("Hohhot", "呼和浩特", "HHT", "Inner Mongolia", 40.84, 111.75, 3),
    _c("Langfang", "廊坊", "LF", "Hebei", 39.54, 116.68, 3),
    _c("Baoding", "保定", "BD", "Hebei", 38.87, 115.46, 3),
    _c("Tangshan", "唐山", "TS", "Hebei", 39.63, 118.18, 3),
    _c("Yantai", "烟台", "YT", "Shandong", 37.46, 121.45, 3),
    _c("Weifang", "潍坊", "WF", "Shandong", 36.71, 119.16, 3),
    _c("Shaoxing", "绍兴", "SX", "Zhejiang", 30.00, 120.58, 3),
    _c("Jiaxing", "嘉兴", "JX", "Zhejiang", 30.75, 120.76, 3),
    _c("Wenzhou", "温州", "WZ", "Zhejiang", 28.00, 120.70, 3),
    _c("Jinhua", "金华", "JH", "Zhejiang", 29.08, 119.65, 3),
    _c("Changzhou", "常州", "CZ", "Jiangsu", 31.81, 119.97, 3),
    _c("Nantong", "南通", "NT", "Jiangsu", 31.98, 120.89, 3),
    _c("Xuzhou", "徐州", "XZ", "Jiangsu", 34.26, 117.18, 3),
    _c("Wuhu", "芜湖", "WHU", "Anhui", 31.33, 118.43, 3),
    _c("Quanzhou", "泉州", "QZ", "Fujian", 24.87, 118.68, 3),
    _c("Huizhou", "惠州", "HUI", "Guangdong", 23.11, 114.42, 3),
    _c("Zhuhai", "珠海", "ZH", "Guangdong", 22.27, 113.58, 3),
    _c("Zhongshan", "中山", "ZS", "Guangdong", 22.52, 113.39, 3),
    _c("Nanning", "南宁", "NN", "Guangxi", 22.82, 108.32, 3),
    _c("Liuzhou", "柳州", "LZH", "Guangxi", 24.33, 109.41, 3),
    _c("Haikou", "海口", "HK", "Hainan", 20.04, 110.32, 3),
    _c("Nanchang", "南昌", "NC", "Jiangxi", 28.68, 115.86, 3),
    _c("Luoyang", "洛阳", "LY", "Henan", 34.62, 112.45, 3),
    _c("Yichang", "宜昌", "YC", "Hubei", 30.69, 111.29, 3),
    _c("Zhuzhou", "株洲", "ZHZ", "Hunan", 27.83, 113.13, 3),
    _c("Deyang", "德阳", "DY", "Sichuan", 31.13, 104.40, 3),
    _c("Mianyang", "绵阳", "MY", "Sichuan", 31.47, 104.68, 3),
    _c("Guiyang", "贵阳", "GY", "Guizhou", 26.65, 106.63, 3),
    _c("Lanzhou", "兰州", "LZ", "Gansu", 36.06, 103.83, 3),
    _c("Yinchuan", "银川", "YCH", "Ningxia", 38.49, 106.23, 3),
    _c("Xining", "西宁", "XN", "Qinghai", 36.62, 101.78, 3),
    _c("Urumqi", "乌鲁木齐", "URC", "Xinjiang", 43.83, 87.62, 3),
)
CITY_BY_NAME = {c.name: c for c in CITIES} | {c.division_name: c for c in CITIES}  # Shanghai, 上海市
assert len({c.code for c in CITIES}) == len(CITIES), "city codes must be unique"

GENERIC_DISTRICTS = ("中心", "高新", "经开", "新区", "城南", "城北")
SERVICE_NEIGHBOUR_KM = 90  # a dealer may also serve a neighbouring city this close


@dataclass(frozen=True)
class Series:
    code: str
    name_zh: str
    segment: str
    price_min: int  # CNY, manufacturer's guide price of the cheapest trim
    price_max: int
    models: tuple[str, ...]


SERIES: dict[str, Series] = {s.code: s for s in (
    Series("A5", "极光 A5", "compact sedan", 119_800, 169_800,
           ("A5 1.5L 舒适版", "A5 1.5T 精英版", "A5 1.5T 豪华版", "A5 2.0T 旗舰版")),
    Series("A7", "极光 A7", "midsize sedan", 209_800, 289_800,
           ("A7 2.0T 尊享版", "A7 2.0T 豪华版", "A7 2.0T 四驱旗舰版")),
    Series("E3", "极光 E3", "compact EV SUV", 159_800, 219_800,
           ("E3 标准续航版", "E3 长续航版", "E3 四驱性能版")),
    Series("X6", "极光 X6", "midsize SUV", 259_800, 349_800,
           ("X6 2.0T 两驱豪华版", "X6 2.0T 四驱旗舰版", "X6 插混四驱版")),
)}

# dealer mix: the share of dealers of each city tier, and what they carry
_DEALER_WEIGHT = {1: 11.0, 2: 4.5, 3: 1.5}
_LEAD_WEIGHT = {1: 10.0, 2: 4.0, 3: 1.2}
_CARRY = {  # probability that a non-flagship dealer carries the series, by tier
    1: {"A5": 0.92, "A7": 0.55, "E3": 0.75, "X6": 0.50},
    2: {"A5": 0.92, "A7": 0.45, "E3": 0.60, "X6": 0.35},
    3: {"A5": 0.95, "A7": 0.35, "E3": 0.45, "X6": 0.20},
}
_STOCK = {1: (3, 18), 2: (2, 12), 3: (1, 8)}
_CAPACITY = {1: (60, 120), 2: (40, 90), 3: (30, 60)}
_COMPETITIVE = {1: 0.30, 2: 0.08, 3: 0.02}  # competitive regions cluster in the tier-1 cities
CHOICE_RIGHT_SHARE = 0.10


def _brand_zh(brand: str) -> str:
    return BRAND_NAMES_ZH.get(brand, brand)


def _dealer_id(brand: str, city: City, n: int) -> str:
    if brand == DEFAULT_BRAND:
        return f"D-{city.code}-{n:02d}"
    slug = "".join(ch for ch in brand.upper() if ch.isalnum())[:4] or "X"
    return f"D-{slug}-{city.code}-{n:02d}"  # another brand's dealers never collide with Aurora's


def _offset(lat: float, lon: float, distance_km: float, bearing: float) -> tuple[float, float]:
    dlat = distance_km / 111.2 * math.cos(bearing)
    dlon = distance_km / (111.2 * math.cos(math.radians(lat))) * math.sin(bearing)
    return round(lat + dlat, 4), round(lon + dlon, 4)


def _point_near(rng: random.Random, city: City, max_km: float) -> tuple[float, float]:
    """A point uniformly spread over the disc of `max_km` around the city centre."""
    return _offset(city.latitude, city.longitude, max_km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi))


def allocate_dealers(count: int) -> dict[str, int]:
    """Dealers per city: one for each city first (biggest tiers first when there are fewer
    dealers than cities), the rest by tier weight (Sainte-Laguë, so it is proportional)."""
    order = sorted(CITIES, key=lambda c: c.tier)  # stable: list order within a tier
    alloc = {c.name: 0 for c in CITIES}
    for city in order[:count]:
        alloc[city.name] = 1
    for _ in range(max(0, count - len(CITIES))):
        best = max(order, key=lambda c: _DEALER_WEIGHT[c.tier] / (2 * alloc[c.name] + 1))
        alloc[best.name] += 1
    return {name: n for name, n in alloc.items() if n}


def neighbours(city: City, within_km: float = SERVICE_NEIGHBOUR_KM) -> list[City]:
    """Other cities whose centre is within `within_km`, nearest first."""
    near = [(haversine_km(city.latitude, city.longitude, o.latitude, o.longitude), o.name, o)
            for o in CITIES if o is not city]
    return [o for d, _, o in sorted(near) if d <= within_km]


def _store_name(brand: str, city: City, n: int) -> str:
    districts = city.districts or GENERIC_DISTRICTS
    district = districts[(n - 1) % len(districts)]
    again = (n - 1) // len(districts)
    suffix = "店" if again == 0 else f"{'二三四五六七八九'[min(again, 8) - 1]}店"
    return f"{_brand_zh(brand)} {city.name_zh}{district}{suffix}"


def generate_dealers(count: int = 220, seed: int = 7, brand: str = DEFAULT_BRAND) -> list[Dealer]:
    """`count` active dealers of `brand` spread over `CITIES` by tier (deterministic for a seed).

    The first dealer of each city is its flagship: near the centre, carrying (nearly) the whole
    line-up; the others carry a realistic subset, most of them the volume seller A5.
    """
    rng = random.Random(seed)
    alloc = allocate_dealers(count)
    all_series = list(SERIES)
    dealers: list[Dealer] = []
    for city in CITIES:
        near = neighbours(city)
        for n in range(1, alloc.get(city.name, 0) + 1):
            flagship = n == 1
            lat, lon = _point_near(rng, city, 6 if flagship else 15)
            if flagship:
                series = all_series if city.tier < 3 else [s for s in all_series if s != "X6" or rng.random() < 0.6]
            else:
                series = [s for s in all_series if rng.random() < _CARRY[city.tier][s]] or ["A5"]
            lo, hi = _STOCK[city.tier]
            stock = {s: (0 if rng.random() < 0.08 else rng.randint(lo, hi if s != "X6" else max(lo, hi // 2)))
                     for s in series}
            service_cities: list[str] = []
            if near and rng.random() < (0.7 if flagship else 0.35):
                service_cities = [o.division_name for o in near[: rng.randint(1, 2)]]
            cap_lo, cap_hi = _CAPACITY[city.tier]
            dealers.append(Dealer(
                id=_dealer_id(brand, city, n), name=_store_name(brand, city, n), brand=brand,
                region=city.region, city=city.division_name, latitude=lat, longitude=lon,
                service_cities=service_cities,
                service_radius_km=float(rng.randrange(30, 61, 5) if city.tier < 3 else rng.randrange(40, 61, 5)),
                series=series, stock=stock,
                conversion_90d=round(rng.triangular(0.08, 0.35, 0.20), 3),
                rating=round(rng.triangular(3.5, 4.9, 4.4), 1),
                capacity=5 * round(rng.randint(cap_lo, cap_hi) / 5),
                active=True,
                choice_right=rng.random() < CHOICE_RIGHT_SHARE,
                competitive_region=rng.random() < _COMPETITIVE[city.tier],
            ))
    return dealers


# --------------------------------------------------------------------------- raw leads

CHANNEL_MIX: dict[Channel, float] = {  # share of raw leads by channel (sums to 1)
    Channel.AUTOHOME: 0.13, Channel.YICHE: 0.12, Channel.DOUYIN: 0.18, Channel.WEBSITE: 0.12,
    Channel.APP: 0.10, Channel.MINI_PROGRAM: 0.08, Channel.LIVE_STREAM: 0.07, Channel.HOTLINE: 0.07,
    Channel.WALK_IN: 0.05, Channel.AUTO_SHOW: 0.03, Channel.REFERRAL: 0.03, Channel.CSV_IMPORT: 0.02,
}
assert abs(sum(CHANNEL_MIX.values()) - 1) < 1e-9

ACQUISITION_COST: dict[Channel, tuple[float, float] | None] = {  # CNY per raw lead
    Channel.AUTOHOME: (180, 260), Channel.YICHE: (150, 230), Channel.DOUYIN: (80, 150),
    Channel.WEBSITE: (40, 90), Channel.APP: (15, 40), Channel.MINI_PROGRAM: (25, 60),
    Channel.LIVE_STREAM: (60, 120), Channel.HOTLINE: (30, 70), Channel.AUTO_SHOW: (200, 400),
    Channel.REFERRAL: (100, 300), Channel.WALK_IN: (0, 0), Channel.CSV_IMPORT: (20, 50),
}

_EXTERNAL_PREFIX = {
    Channel.AUTOHOME: "AH", Channel.YICHE: "YC", Channel.DOUYIN: "dy_", Channel.WEBSITE: "web-",
    Channel.APP: "app-", Channel.MINI_PROGRAM: "wxmp-", Channel.LIVE_STREAM: "live-",
    Channel.HOTLINE: "400-", Channel.AUTO_SHOW: "show-", Channel.REFERRAL: "ref-",
    Channel.WALK_IN: "walkin-", Channel.CSV_IMPORT: "csv-",
}

_CAMPAIGNS: dict[Channel, tuple[str, ...]] = {  # {s}: the series, or 全系 when none is named
    Channel.AUTOHOME: ("汽车之家-{s}询底价", "汽车之家-{s}预约试驾", "汽车之家-818购车节"),
    Channel.YICHE: ("易车-{s}询价", "易车-城市团购会"),
    Channel.DOUYIN: ("抖音信息流-{s}新车上市", "抖音本地推-周末到店礼", "抖音达人探店-{s}"),
    Channel.WEBSITE: ("官网-预约试驾", "官网-{s}配置器", "官网-金融购车方案"),
    Channel.APP: ("App-{s}预约试驾", "App-车主推荐有礼"),
    Channel.MINI_PROGRAM: ("小程序-到店有礼", "小程序-{s}限时优惠"),
    Channel.LIVE_STREAM: ("直播间-{s}工厂直播", "直播间-周五专场"),
    Channel.HOTLINE: ("400热线-购车咨询",),
    Channel.AUTO_SHOW: ("{city}国际车展", "{city}秋季车展"),
    Channel.REFERRAL: ("老带新-推荐有礼",),
    Channel.WALK_IN: (),
    Channel.CSV_IMPORT: ("异业合作-保险名单", "外采名单-季度"),
}

_TIMEFRAMES = (Timeframe.WITHIN_7_DAYS, Timeframe.WITHIN_15_DAYS, Timeframe.WITHIN_30_DAYS,
               Timeframe.WITHIN_90_DAYS, Timeframe.LATER, Timeframe.UNKNOWN)
_TIMEFRAME_MIX = {  # people who walk in, call or are referred buy sooner
    "default": (0.07, 0.12, 0.24, 0.25, 0.14, 0.18),
    "warm": (0.20, 0.22, 0.25, 0.15, 0.08, 0.10),
}
_WARM = {Channel.WALK_IN, Channel.HOTLINE, Channel.REFERRAL, Channel.AUTO_SHOW}
_SERIES_MIX = {"A5": 0.38, "E3": 0.24, "A7": 0.20, "X6": 0.18}
SERIES_NAMED_SHARE = 0.85
MISSING_CITY_SHARE = 0.03
_GEO_CHANNELS = {Channel.APP, Channel.MINI_PROGRAM}

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN_CHARS = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉婷斌浩宇凯晨欣怡"
               "子涵梓萱一诺思远博文佳琪雨轩俊杰晓东海峰建国志强春梅丹丹雪莹亮飞鑫琳")
MOBILE_PREFIXES = (
    [str(p) for p in range(130, 140)] * 3 + ["150", "151", "152", "153", "155", "156", "157", "158", "159"] * 3
    + [str(p) for p in range(180, 190)] * 2 + ["190", "191", "192", "193", "195", "196", "197", "198", "199"]
)
_NOTES = ("想了解{s}的最新优惠", "周末方便到店试驾", "有一台旧车想置换", "请工作日晚上联系",
          "对比了几款车，想要一份报价", "想了解贷款首付和月供", "家里添了孩子，想换大一点的车")
_EV_NOTES = ("关注续航和家用充电桩安装", "冬天续航打几折？")

DEFAULT_START = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 Beijing time


def _beijing_hour(at: datetime) -> int:
    utc = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return (utc.hour + 8) % 24


def _proportional_counts(n: int, shares: dict) -> dict:
    """`n` split by `shares` exactly (largest remainder), so small samples keep the mix too."""
    raw = {k: n * v for k, v in shares.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _person_name(rng: random.Random, channel: Channel) -> str:
    surname = rng.choice(SURNAMES)
    if channel in (Channel.DOUYIN, Channel.HOTLINE, Channel.LIVE_STREAM) and rng.random() < 0.15:
        return surname + rng.choice(("先生", "女士"))  # only what the customer said on a call or a form
    return surname + "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice((1, 2, 2))))


def _phone_digits(rng: random.Random, taken: set[str]) -> str:
    while True:
        digits = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if digits not in taken:
            taken.add(digits)
            return digits


def _format_phone(rng: random.Random, digits: str) -> str:
    r = rng.random()
    if r < 0.85:
        return digits
    if r < 0.95:
        return "+86" + digits
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}"  # as typed into a form


def generate_raw_leads(
    n: int,
    seed: int = 11,
    brand: str = DEFAULT_BRAND,
    start: datetime | None = None,
    *,
    dealers: Sequence[Dealer] | None = None,
    duplicates: float = 0.0,
    mean_gap_s: float = 90.0,
) -> list[RawLead]:
    """`n` raw leads of `brand` with the channel mix of `CHANNEL_MIX` (exact up to rounding).

    - Cities weighted by tier; ~3% without a city; app/mini-program leads carry a geo point.
    - Phones are valid Chinese mobiles, unique per lead unless `duplicates` (0..1) asks for a
      share of leads that repeat an earlier customer (same phone, maybe typed differently),
      which intake merges into one lead.
    - `dealers`: the network walk-ins and dealer-page (website) leads name as preferred dealer;
      by default the network of `generate_dealers(brand=brand)` (what devtools.seed loads);
      pass [] for none.
    - `submitted_at` from `start` (default DEFAULT_START) on, a lead every `mean_gap_s` on
      average, fewer at night (Beijing time).
    - External ids are unique per channel within a call and differ between seeds.
    """
    if not 0 <= duplicates < 1:
        raise ValueError("duplicates is a share in [0, 1)")
    rng = random.Random(seed)
    if dealers is None:
        dealers = generate_dealers(brand=brand)
    by_city: dict[str, list[Dealer]] = {}
    for d in dealers:
        if d.active and d.brand == brand:
            by_city.setdefault(d.city, []).append(d)

    channels = [ch for ch, k in _proportional_counts(n, CHANNEL_MIX).items() for _ in range(k)]
    rng.shuffle(channels)
    salt = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(5))
    city_weights = [_LEAD_WEIGHT[c.tier] for c in CITIES]
    series_codes, series_weights = list(_SERIES_MIX), list(_SERIES_MIX.values())
    taken: set[str] = set()
    people: list[tuple[str, str, City | None]] = []  # earlier customers, for duplicates
    at = start or DEFAULT_START
    leads: list[RawLead] = []
    for i, channel in enumerate(channels):
        night = _beijing_hour(at) < 8  # fewer leads at night
        at += timedelta(seconds=round(rng.expovariate(1 / mean_gap_s) * (5 if night else 1)))
        preferred: Dealer | None = None
        if people and rng.random() < duplicates:
            name, digits, city = rng.choice(people)
        else:
            name, digits = _person_name(rng, channel), _phone_digits(rng, taken)
            city = rng.choices(CITIES, weights=city_weights)[0]
            if channel != Channel.WALK_IN and rng.random() < MISSING_CITY_SHARE:
                city = None
            people.append((name, digits, city))
        if city is not None and by_city.get(city.division_name) and (
                channel == Channel.WALK_IN or (channel == Channel.WEBSITE and rng.random() < 0.25)):
            preferred = rng.choice(by_city[city.division_name])  # the showroom, or the dealer's own page
        series: str | None = None
        if rng.random() < SERIES_NAMED_SHARE or preferred is not None and channel == Channel.WALK_IN:
            series = rng.choices(series_codes, weights=series_weights)[0]
            if preferred is not None and series not in preferred.series:
                series = rng.choice(preferred.series)
        spec = SERIES.get(series) if series else None
        model = rng.choice(spec.models) if spec and rng.random() < 0.45 else None
        budget = None
        if rng.random() < 0.75:
            lo, hi = (spec.price_min, spec.price_max) if spec else (100_000, 350_000)
            budget = min(hi, max(lo, round(rng.uniform(lo, hi), -4)))
        lat = lon = None
        if channel in _GEO_CHANNELS and city is not None:
            lat, lon = _point_near(rng, city, 20)
        mix = _TIMEFRAME_MIX["warm" if channel in _WARM else "default"]
        timeframe = rng.choices(_TIMEFRAMES, weights=mix)[0]
        campaigns = _CAMPAIGNS[channel]
        campaign = None
        if campaigns:
            campaign = rng.choice(campaigns).format(s=series or "全系", city=city.name_zh if city else "")
        cost_range = ACQUISITION_COST[channel]
        cost = round(rng.uniform(*cost_range), 2) if cost_range else None
        notes = _NOTES + _EV_NOTES if series == "E3" else _NOTES
        note = rng.choice(notes).format(s=series or "新车") if rng.random() < 0.4 else None
        leads.append(RawLead(
            external_id=f"{_EXTERNAL_PREFIX[channel]}{salt}-{i:06d}",
            channel=channel, brand=brand, customer_name=name, phone=_format_phone(rng, digits),
            city=city.division_name if city else None, latitude=lat, longitude=lon,
            series=series, model=model, budget=budget, timeframe=timeframe,
            financing_interest=rng.random() < 0.35, trade_in=rng.random() < 0.22,
            preferred_dealer_id=preferred.id if preferred else None,
            campaign=campaign, acquisition_cost=cost, note=note,
            consent=rng.random() >= 0.01, submitted_at=at,
        ))
    return leads


# --------------------------------------------------------------------------- summary CLI


def summary(dealers: Sequence[Dealer], leads: Sequence[RawLead]) -> str:
    lines = [f"{len(dealers)} dealers in {len({d.city for d in dealers})} cities"]
    by_region = Counter(d.region for d in dealers)
    lines.append("  by region: " + ", ".join(f"{r} {by_region[r]}" for r in REGIONS if by_region[r]))
    by_tier = Counter(CITY_BY_NAME[d.city].tier for d in dealers if d.city in CITY_BY_NAME)
    lines.append("  by city tier: " + ", ".join(f"tier {t} {by_tier[t]}" for t in sorted(by_tier)))
    by_city = Counter(d.city for d in dealers)
    lines.append("  biggest cities: " + ", ".join(f"{c} {k}" for c, k in by_city.most_common(8)))
    carry = Counter(s for d in dealers for s in d.series)
    lines.append("  carrying: " + ", ".join(f"{s} {carry[s]}" for s in SERIES))
    lines.append(f"  choice-right {sum(d.choice_right for d in dealers)}, "
                 f"competitive region {sum(d.competitive_region for d in dealers)}, "
                 f"capacity {sum(d.capacity for d in dealers)}")
    if leads:
        lines.append(f"{len(leads)} raw leads")
        mix = Counter(lead.channel for lead in leads)
        lines.append("  channels: " + ", ".join(f"{ch.value} {k / len(leads):.0%}" for ch, k in mix.most_common()))
        named = sum(1 for lead in leads if lead.series)
        lines.append(f"  series named {named / len(leads):.0%}, no city {sum(not x.city for x in leads)}, "
                     f"cost {sum(x.acquisition_cost or 0 for x in leads):,.0f} CNY")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.network", description=__doc__.splitlines()[0])
    parser.add_argument("--dealers", type=int, default=220)
    parser.add_argument("--leads", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7, help="the dealer network's seed")
    parser.add_argument("--lead-seed", type=int, default=11)
    parser.add_argument("--brand", default=DEFAULT_BRAND)
    args = parser.parse_args(argv)
    dealers = generate_dealers(args.dealers, args.seed, args.brand)
    leads = generate_raw_leads(args.leads, args.lead_seed, args.brand, dealers=dealers)
    print(summary(dealers, leads))


if __name__ == "__main__":
    main()
