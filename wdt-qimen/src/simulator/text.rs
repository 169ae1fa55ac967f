//! Word lists the generated refunds are made of: shops, goods, buyers, reasons, remarks.
//!
//! Everything here is invented for the simulator; the names only look like what a Chinese
//! apparel-and-household seller's back office holds.

/// A shop of the simulated account.
pub(crate) struct Shop {
    pub no: &'static str,
    pub name: &'static str,
    pub id: u32,
    /// WDT platform code of the shop (invented mapping; the real table is not public here).
    pub platform_id: u32,
    pub sub_platform_id: u32,
    /// Offline and self-run shops refund directly instead of through a platform guarantee.
    pub offline: bool,
}

pub(crate) const SHOPS: &[Shop] = &[
    Shop {
        no: "tmall01",
        name: "棉语服饰天猫旗舰店",
        id: 11,
        platform_id: 1,
        sub_platform_id: 1,
        offline: false,
    },
    Shop {
        no: "tb02",
        name: "小暖家居淘宝店",
        id: 12,
        platform_id: 1,
        sub_platform_id: 0,
        offline: false,
    },
    Shop {
        no: "jd03",
        name: "棉语京东旗舰店",
        id: 13,
        platform_id: 3,
        sub_platform_id: 0,
        offline: false,
    },
    Shop {
        no: "dy04",
        name: "棉语抖音小店",
        id: 14,
        platform_id: 69,
        sub_platform_id: 0,
        offline: false,
    },
    Shop {
        no: "pdd05",
        name: "好物优选拼多多店",
        id: 15,
        platform_id: 32,
        sub_platform_id: 0,
        offline: false,
    },
    Shop {
        no: "wx06",
        name: "棉语微信小程序商城",
        id: 16,
        platform_id: 127,
        sub_platform_id: 0,
        offline: true,
    },
    Shop {
        no: "md07",
        name: "线下门店-杭州湖滨",
        id: 17,
        platform_id: 127,
        sub_platform_id: 0,
        offline: true,
    },
];

/// A catalogue entry: name, list price in cents, specs.
pub(crate) struct Goods {
    pub name: &'static str,
    pub price_cents: i64,
    pub specs: &'static [&'static str],
}

pub(crate) const GOODS: &[Goods] = &[
    Goods {
        name: "纯棉圆领短袖T恤",
        price_cents: 5900,
        specs: &["白色 S", "白色 M", "白色 L", "白色 XL", "黑色 M", "黑色 XL"],
    },
    Goods {
        name: "加绒加厚连帽卫衣",
        price_cents: 12900,
        specs: &["燕麦色 M", "灰色 L", "藏青 XL", "黑色 XXL"],
    },
    Goods {
        name: "高腰直筒牛仔裤",
        price_cents: 15900,
        specs: &["浅蓝 26", "浅蓝 27", "深蓝 28", "黑色 29"],
    },
    Goods {
        name: "法式碎花连衣裙",
        price_cents: 19900,
        specs: &["蓝色碎花 S", "蓝色碎花 M", "黄色碎花 L"],
    },
    Goods {
        name: "轻薄羽绒服短款",
        price_cents: 39900,
        specs: &["米白 M", "黑色 L", "雾霾蓝 XL"],
    },
    Goods {
        name: "男士商务休闲衬衫",
        price_cents: 13900,
        specs: &["白色 39", "浅蓝 40", "浅蓝 41", "灰色 42"],
    },
    Goods {
        name: "儿童纯棉家居服套装",
        price_cents: 8990,
        specs: &["小熊 110cm", "小熊 120cm", "恐龙 130cm"],
    },
    Goods {
        name: "婴儿纯棉连体衣",
        price_cents: 6990,
        specs: &["粉色 66cm", "蓝色 73cm", "米色 80cm"],
    },
    Goods {
        name: "304不锈钢保温杯500ml",
        price_cents: 7900,
        specs: &["星空蓝 500ml", "樱花粉 500ml", "曜石黑 500ml"],
    },
    Goods {
        name: "无线蓝牙耳机降噪版",
        price_cents: 26900,
        specs: &["白色 标准版", "黑色 降噪版"],
    },
    Goods {
        name: "家用多功能电饭煲4L",
        price_cents: 29900,
        specs: &["香槟金 4L"],
    },
    Goods {
        name: "竹纤维抗菌毛巾3条装",
        price_cents: 3990,
        specs: &["混色 3条装", "灰色 3条装"],
    },
    Goods {
        name: "乳胶枕头护颈枕",
        price_cents: 15900,
        specs: &["单只装 60x40cm", "对枕 60x40cm"],
    },
    Goods {
        name: "氨基酸洗面奶120g",
        price_cents: 4990,
        specs: &["120g"],
    },
    Goods {
        name: "补水保湿面膜10片装",
        price_cents: 9900,
        specs: &["10片装", "20片装"],
    },
    Goods {
        name: "运动速干跑步袜5双装",
        price_cents: 2990,
        specs: &["白色 均码", "黑色 均码"],
    },
    Goods {
        name: "硅胶防摔手机壳",
        price_cents: 1990,
        specs: &["iPhone 15 透明", "iPhone 15 Pro 黑色", "华为Mate60 绿色"],
    },
    Goods {
        name: "新疆和田大枣500g",
        price_cents: 3580,
        specs: &["特级 500g", "一级 500g"],
    },
    Goods {
        name: "每日坚果混合装750g",
        price_cents: 8900,
        specs: &["30袋 750g"],
    },
    Goods {
        name: "办公室静音无线鼠标",
        price_cents: 5900,
        specs: &["深空灰", "珍珠白"],
    },
];

/// Suite (组合装) names for the few lines that belong to one.
pub(crate) const SUITES: &[&str] = &["夏日清爽两件套", "亲子家居服组合", "洗护旅行套装", "开学必备三件套"];

pub(crate) const BUYER_NICKS: &[&str] = &[
    "小鱼儿爱吃鱼",
    "星空下的猫",
    "快乐的小王",
    "晴天娃娃2019",
    "木子李",
    "阿狸不是狐狸",
    "柠檬不萌",
    "追风少年",
    "花开半夏",
    "一只小胖橘",
    "南方的雪",
    "米粒妈妈",
    "jane_shop",
    "老陈家的媳妇",
    "清风徐来",
    "糖糖爱吃糖",
    "北京的老张",
    "奶茶续命中",
    "布丁的日常",
    "夏天的风",
];

pub(crate) const PERSON_NAMES: &[&str] = &[
    "王芳", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄婷", "周杰", "吴敏", "徐丽", "孙浩", "马超", "朱琳",
    "胡军", "郭强", "何雪", "林峰", "高洁", "罗晨",
];

/// 退换说明 (reason_name), its position + 1 is the reason_id.
pub(crate) const REASONS: &[&str] = &[
    "七天无理由退货",
    "尺码不合适",
    "颜色与图片不符",
    "质量问题",
    "商品破损",
    "发错货",
    "少件/漏发",
    "不想要了",
    "拍错/多拍",
    "商品与描述不符",
    "快递一直未送达",
    "效果不好/不喜欢",
    "未按约定时间发货",
];

pub(crate) const REMARKS: &[&str] = &[
    "客户要求尽快处理",
    "已电话联系买家确认",
    "退回仓库后二次质检",
    "赠品未退回，需扣款",
    "买家已寄回，待签收",
    "换货请优先安排发出",
    "平台介入，按平台结果处理",
    "顺丰到付，已拒收",
    "吊牌已剪，协商退一半",
];

pub(crate) const LINE_REMARKS: &[&str] = &["吊牌完好", "包装已拆", "轻微污渍", "赠品"];

pub(crate) const OPERATORS: &[&str] = &["系统", "客服-小张", "客服-小李", "售后-王姐", "仓库-老陈", "主账号"];

pub(crate) const FLAG_NAMES: &[&str] = &["无", "无", "无", "无", "无", "无", "加急", "异常"];

/// (name, waybill prefix, waybill digits)
pub(crate) const LOGISTICS: &[(&str, &str, usize)] = &[
    ("顺丰速运", "SF", 13),
    ("中通快递", "75", 12),
    ("圆通速递", "YT", 13),
    ("韵达快递", "43", 13),
    ("申通快递", "77", 13),
    ("极兔速递", "JT", 13),
    ("邮政EMS", "98", 11),
    ("京东快递", "JDVA", 11),
];

/// (warehouse_no, warehouse_id)
pub(crate) const WAREHOUSES: &[(&str, u32)] = &[("WH-HZ01", 1), ("WH-GZ02", 2), ("WH-TJ03", 3)];

/// (province, city, district, area text) of exchange addresses.
pub(crate) const AREAS: &[(u32, u32, u32, &str)] = &[
    (330000, 330100, 330106, "浙江省 杭州市 西湖区"),
    (440000, 440300, 440305, "广东省 深圳市 南山区"),
    (310000, 310100, 310115, "上海 上海市 浦东新区"),
    (110000, 110100, 110105, "北京 北京市 朝阳区"),
    (510000, 510100, 510107, "四川省 成都市 武侯区"),
];

pub(crate) const BANKS: &[&str] = &["支付宝", "微信支付", "", "招商银行"];

pub(crate) const FENXIAO: &[(&str, &str)] = &[("分销商-优品汇", "FX001"), ("分销商-小城好物", "FX002")];

pub(crate) const REVERT_REASONS: &[&str] = &["买家取消退款", "与买家协商一致", "重复申请"];

pub(crate) const MASK_INFO: &[&str] = &["拦截成功", "拒收退回", "拦截中"];
